"""to_speakable: screen text → text espeak-ng's Mandarin voice reads naturally."""

from __future__ import annotations

import pytest

from speech.normalize import (
    digits_to_chinese,
    int_to_chinese,
    number_to_chinese,
    to_speakable,
)


@pytest.mark.parametrize(
    ("n", "spoken"),
    [
        (0, "零"),
        (1, "一"),
        (2, "二"),
        (10, "十"),
        (11, "十一"),
        (20, "二十"),
        (80, "八十"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
        (200, "二百"),
        (1000, "一千"),
        (1005, "一千零五"),
        (1010, "一千零一十"),
        (1200, "一千二百"),
        (2000, "两千"),
        (2200, "两千二百"),
        (10000, "一万"),
        (10005, "一万零五"),
        (15000, "一万五千"),
        (20000, "两万"),
        (22000, "两万两千"),
        (100000, "十万"),
        (100500, "十万零五百"),
        (120000, "十二万"),
        (220000, "二十二万"),
        (1050000, "一百零五万"),
        (1000000, "一百万"),
        (100000000, "一亿"),
        (100000005, "一亿零五"),
        (200000000, "两亿"),
        (120000000, "一亿两千万"),
    ],
)
def test_integers(n: int, spoken: str) -> None:
    assert int_to_chinese(n) == spoken


@pytest.mark.parametrize(
    ("token", "spoken"),
    [
        ("1.5", "一点五"),
        ("0.5", "零点五"),
        ("2.5", "二点五"),
        ("10.25", "十点二五"),
        ("1076.8", "一千零七十六点八"),
        ("007", "零零七"),
    ],
)
def test_number_tokens(token: str, spoken: str) -> None:
    assert number_to_chinese(token) == spoken


def test_digits() -> None:
    assert digits_to_chinese("0797") == "零七九七"
    assert digits_to_chinese("110") == "幺幺零"
    assert digits_to_chinese("2021", yao=False) == "二零二一"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # plain numbers in text
        ("80", "八十"),
        ("1.5", "一点五"),
        ("15000", "一万五千"),
        ("105", "一百零五"),
        ("1005", "一千零五"),
        ("20000", "两万"),
        ("100,000人", "十万人"),
        ("14项，其中约束性指标6项", "十四项，其中约束性指标六项"),
        ("8500多万残疾人", "八千五百多万残疾人"),
        ("1076.8万困难残疾人", "一千零七十六点八万困难残疾人"),
        ("第10条", "第十条"),
        ("８０元", "八十元"),
        # 两 before a measure word, not in ordinals or months
        ("2个", "两个"),
        ("2个月", "两个月"),
        ("2月", "二月"),
        ("第2个", "第二个"),
        ("下午2点", "下午两点"),
        ("第1、2项", "第一、二项"),
        # money
        ("80元", "八十元"),
        ("¥80", "八十元"),
        ("￥80元", "八十元"),
        ("1.50元", "一点五元"),
        ("每月80元/人", "每月八十元每人"),
        ("1,200元", "一千二百元"),
        ("￥1,200.50", "一千二百点五元"),
        ("¥1.05", "一点零五元"),
        ("30.00元", "三十元"),
        ("$5", "五美元"),
        ("1.5万元", "一点五万元"),
        # years and dates
        ("2025年", "二零二五年"),
        ("到2025年底", "到二零二五年底"),
        ("2021年4月22日", "二零二一年四月二十二日"),
        ("2025-07-22发布", "二零二五年七月二十二日发布"),
        ("2021年12月15日", "二零二一年十二月十五日"),
        # percentages
        ("1.5%", "百分之一点五"),
        ("85%", "百分之八十五"),
        ("约80%以上", "约百分之八十以上"),
        ("5%-10%", "百分之五到百分之十"),
        ("６．９％", "百分之六点九"),
        # ranges
        ("0-6岁", "零到六岁"),
        ("0–6岁", "零到六岁"),
        ("0至6岁", "零到六岁"),
        ("0～6岁", "零到六岁"),
        ("3—5个工作日", "三到五个工作日"),
        ("2022—2024年", "二零二二年到二零二四年"),
        ("2022-2024年", "二零二二年到二零二四年"),
        ("2021年至2025年", "二零二一年到二零二五年"),
        ("（2021—2025年）", "二零二一年到二零二五年"),
        ("2020—2023年年均增速约6.9%", "二零二零年到二零二三年年均增速约百分之六点九"),
        # times
        ("上午8:00-12:00办公", "上午八点到十二点办公"),
        ("14:30", "十四点三十分"),
        ("8:05", "八点零五分"),
        # arithmetic, fractions, signs
        ("4+2", "四加二"),
        ("“4+2”重点任务", "四加二重点任务"),
        ("“8+6”模式", "八加六模式"),
        ("1/3", "三分之一"),
        ("约2/3的人", "约三分之二的人"),
        ("-5℃", "负五摄氏度"),
        ("温度−5℃", "温度负五摄氏度"),
        # phone numbers, digit by digit, 1 as 幺
        ("0797-2831234", "零七九七，二八三幺二三四"),
        ("电话：0797-2831234", "电话：零七九七，二八三幺二三四"),
        ("13812345678", "幺三八，幺二三四，五六七八"),
        ("12345", "幺二三四五"),
        ("拨打12385热线", "拨打幺二三八五热线"),
        ("热线：12345", "热线：幺二三四五"),
        ("拨打110", "拨打幺幺零"),
        ("400-123-4567", "四零零，幺二三，四五六七"),
        ("12345元", "一万两千三百四十五元"),
        ("（0797）2831234", "零七九七，二八三幺二三四"),
        (
            "电话：0797-2831234、2831235",
            "电话：零七九七，二八三幺二三四、二八三幺二三五",
        ),
        ("QQ群：123456789", "Q Q 群：幺二三四五六七八九"),
        # ordinals, levels and ages
        ("第1步", "第一步"),
        ("2级", "二级"),
        ("每年5月的第3个星期日", "每年五月的第三个星期日"),
        ("年满16周岁", "年满十六周岁"),
        ("周一至周五 8:30-17:30", "周一至周五八点三十分到十七点三十分"),
        ("100%", "百分之一百"),
        # document numbers
        ("国发〔2015〕52号", "国发二零一五年五十二号"),
        ("国发〔2021〕10号", "国发二零二一年十号"),
        ("赣府发[2021]30号", "赣府发二零二一年三十号"),
    ],
)
def test_numbers_in_text(text: str, spoken: str) -> None:
    assert to_speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("K7M-42Q", "K、七、M、杠、四、二、Q"),
        ("XW-7K3P9", "X、W、杠、七、K、三、P、九"),
        ("工单号K7M-42Q，请记好。", "工单号 K、七、M、杠、四、二、Q，请记好。"),
        ("您的工单号是 XW-7K3P9。", "您的工单号是 X、W、杠、七、K、三、P、九。"),
        ("k7m-42q", "K、七、M、杠、四、二、Q"),
        ("AB-1234", "A、B、杠、幺、二、三、四"),
    ],
)
def test_ticket_numbers_are_spelled(text: str, spoken: str) -> None:
    assert to_speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("请用Telegram联系", "请用电报联系"),
        ("Rasa助手", "助手"),
        ("Hello world", ""),
        ("B超和CT检查", "B 超和 C T 检查"),
        ("手机APP", "手机 A P P"),
        ("5G网络", "五 G 网络"),
        ("详见 https://www.gov.cn/zhengce/abc.html 。", "详见，网址见文字消息。"),
        ("访问 xunwu.gov.cn 或 www.jxdpf.org.cn 查询", "访问，网址见文字消息，查询"),
        ("网站：https://a.cn、https://b.cn", "网站：网址见文字消息"),
        ("邮箱：xwcl@163.com", "邮箱：邮箱地址见文字消息"),
        ("[寻乌县残联](https://xw.gov.cn)", "寻乌县残联"),
        ("https://example.com", "网址见文字消息"),
    ],
)
def test_latin_urls_and_emails(text: str, spoken: str) -> None:
    assert to_speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("（一）", "一"),
        ("（一）提升残疾人社会保障水平", "一，提升残疾人社会保障水平"),
        ("【官方】补贴标准每月80元", "补贴标准每月八十元"),
        ("残疾人（含盲人）可以申请", "残疾人，含盲人，可以申请"),
        ("按比例就业（1.5%）", "按比例就业，百分之一点五"),
        ("来源：规划第五部分（一）", "来源是规划第五部分第一条"),
        ("（来源：规划第五部分（一））", "来源是规划第五部分第一条"),
        ("《寻乌县“十四五”残疾人保障和发展规划》", "寻乌县十四五残疾人保障和发展规划"),
        (
            "【办理地点：寻乌县残疾人联合会一楼大厅】",
            "办理地点：寻乌县残疾人联合会一楼大厅",
        ),
    ],
)
def test_brackets_and_sources(text: str, spoken: str) -> None:
    assert to_speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("1. 身份证\n2. 户口本", "第一，身份证\n第二，户口本"),
        ("1、身份证\n2、户口本", "第一，身份证\n第二，户口本"),
        ("材料：1、身份证；2、户口本", "材料：第一，身份证；第二，户口本"),
        ("材料：（1）身份证；（2）户口本", "材料：第一，身份证；第二，户口本"),
        ("①身份证②户口本", "第一，身份证，第二，户口本"),
        ("1. 2025年起", "第一，二零二五年起"),
        ("- 第一步\n- 第二步", "第一步\n第二步"),
        ("• 带身份证", "带身份证"),
    ],
)
def test_list_markers(text: str, spoken: str) -> None:
    assert to_speakable(text) == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("😀你好👍", "你好"),
        ("⚠️ 请注意！", "请注意！"),
        ("✅ 已受理", "已受理"),
        ("**重点**内容", "重点内容"),
        ("### 办理流程", "办理流程"),
        ("_斜体_和`代码`", "斜体和代码"),
        ("> 提示：带上身份证", "提示：带上身份证"),
        ("---\n正文", "正文"),
        (
            "| 项目 | 标准 |\n|---|---|\n| 护理补贴 | 80元 |",
            "项目，标准\n护理补贴，八十元",
        ),
        ("```\ncode = 1\n```\n说明", "说明"),
    ],
)
def test_emoji_and_markdown(text: str, spoken: str) -> None:
    assert to_speakable(text) == spoken


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "😀👍", "https://a.cn", "**", "Hello world", "# --- *"])
def test_nothing_to_say(text: str) -> None:
    assert to_speakable(text) in ("", "网址见文字消息")


def test_urls_alone_say_where_to_look() -> None:
    assert to_speakable("https://a.cn") == "网址见文字消息"
    assert to_speakable("😀👍 **") == ""


def test_output_has_no_digits_or_markup() -> None:
    text = (
        "### 两项补贴\n"
        "【官方】困难残疾人生活补贴**每人每月80元**，约1.5%的人；0-6岁儿童康复；"
        "2022—2024年；电话0797-2831234；工单 XW-7K3P9 😀；详见 https://xw.gov.cn 。\n"
        "1. 身份证\n2、户口本（原件）"
    )
    spoken = to_speakable(text)
    assert not any(c.isdigit() for c in spoken)
    assert not set("*#_`>【】（）()%/") & set(spoken)
    assert "二零二二年到二零二四年" in spoken
    assert "X、W、杠、七、K、三、P、九" in spoken


def test_pure_and_idempotent_enough() -> None:
    text = "约1.5%的人，80元。"
    assert to_speakable(text) == to_speakable(text)
    once = to_speakable(text)
    assert to_speakable(once) == once
