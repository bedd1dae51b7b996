"""The words the understanding step looks for beside its models (knowledge/understanding.py):
short replies (yes, no, none of these, cancel), the few kinds that need one of their words,
the generic words of a follow-up, and the cues that decide between two readings (a story
that asks to know or asks someone to act, passing something on to staff, danger that goes
on after the urgent reply). Compared after knowledge.lexical.plain / normalise.
"""

from __future__ import annotations

import re

# What residents type to accept or refuse an offer, or to stop (compared without punctuation).
YES = frozenset(
    "是 是的 是啊 对 对的 对对 对对对 好 好的 好啊 好吧 行 行的 可以 可以的 嗯 嗯嗯 要 要的 需要 同意 确定 确认 没问题 "
    "麻烦了 麻烦你了 麻烦你 谢谢 好的谢谢 转吧 转 转给他们 要转 帮我转 得 得嘞 ok 好嘞 中 是滴 对头 要得".split()
)
NO = frozenset(
    "不 不是 不用 不用了 不要 不要了 不需要 不必 没有 冇 唔使 不对 都不是 都不对 没有对的 冇一个对 一个都不是 没一个对 "
    "不是这个 不是这些 都不是的 以上都不是 不是的 算了吧 不了 不用谢 no".split()
)
# "None of these" with a menu on the screen ("4 都不对啊", "冇得一个对的", "都不是我要的").
NONE_FITS = re.compile(r"都不|一个都|没有?一个|冇得?一个|没得一个|都没|不是我要|不是我想|没有对|冇对|都错|不对")
# "冇一个对的" / "不是问这个" right after an answer (no options on screen): that answer missed.
MISSED = re.compile(
    r"冇一个对|没一个对|都不对|都不是|不是问这个|不是这个意思|答非所问|不是我问的|我不是问这|牛头不对马嘴"
    r"|讲的不对|说的不对|不是我要的|不是我想问|你没听懂|你冇听懂"
)
# A no, then what they will do instead ("不用了 我自己去镇上问"): still a no.
# Not when what follows asks for something ("不用了 我要转人工", "不要了 帮我申请…").
NO_LEAD = re.compile(
    r"\s*(?:不用了|不用|不要了|不需要|算了吧|唔使)[\s，,。.!！]+(?!.*[吗么？?]$)(?!.*(?:人工|工作人员|真人|转|帮|申请|找人))\S"
)
CANCEL = frozenset("算了 不办了 不弄了 取消 不要办了 不问了 算了算了 我不办了 不申请了 退出 停止".split())
# Intents with few examples and few ways to say them: without one of their words, a message is
# not one of them ("哪里领" asks where to apply, not "来源是哪里").
GUARDS = {
    "ask_sources": re.compile(r"来源|出处|文件|依据|根据|哪来|哪里来|从哪|谁说|谁定|规定的|哪里看到|哪里查到"),
    "voice_on": re.compile(r"念|读|说|讲|语音|声音|听|播"),
    "voice_off": re.compile(r"念|读|说|讲|语音|声音|听|播|吵|打字|文字|字"),
    "voice_shorter": re.compile(r"短|长|简单|重点|多|少"),
    "voice_slower": re.compile(r"慢|快|听不清|跟不上"),
    "voice_repeat": re.compile(r"再|重|遍|一次|没听|冇听|听不清"),
    "voice_no_source": re.compile(r"来源|出处|文件|名"),
}
# …and words that make a message something else even with one of those ("这个规划的钱从哪里来"
# asks where the money comes from, not for the answer's source).
NOT_GUARDED = {
    "ask_sources": re.compile(r"钱|经费|资金|投入|预算|拨款"),
}
# The words of a follow-up that could follow any answer ("去哪里领", "要带么子", "多久能批"): what
# is left without them is what the follow-up is about ("养老保险呢" is about 养老保险).
_GENERIC_WORDS = (
    "那么 那 还有 呢 吗 么 嘛 啊 呀 哦 了 的 我 我们 他 她 要 想 能 可以 可不可以 能不能 "
    "会不会 是不是 有冇 有没有 冇 没 不 "
    "哪里 哪儿 哪 去哪 在哪 去哪里 在哪里 什么地方 怎么 咋个 咋 怎样 如何 "
    "么子 什么 啥 几多 多少 多久 几时 什么时候 几天 几个月 "
    "领 办 申请 弄 搞 交 带 拿 给 去 找 问 批 批下来 下来 钱 收费 要钱 免费 材料 东西 条件 手续 流程 一下 这个 那个 "
    "自己 出 掏 付 一个月 每个月 每月 一年 每年 一学期"
).split()
GENERIC = re.compile("|".join(sorted(_GENERIC_WORDS, key=len, reverse=True)))
# Words of the plan's own: a message with one is not out of scope (unless the person is not disabled).
IN_DOMAIN = re.compile(
    r"低保|残疾|残废|残联|特困|两项补贴|护理补贴|生活补贴|助听器|轮椅|盲杖|假肢|特教|特殊教育|送教|"
    r"康复|自闭|孤独症|聋|盲人|哑|瘫|智障|评残|托养|辅具|辅助器具|无障碍|盲道|手语|残保金|助残|随班就读|危房|"
    r"跛|截肢|失明"
)
NOT_DISABLED = re.compile(r"(?:冇|没|没有|不是|无|并非|不算)残疾")
# A story that asks to know ("我是问", "这合法吗"), not for someone to act ("帮我…", "派个人来").
ASKING = re.compile(
    r"我是问|只是问|就是问|就问|想问问|问一下|问下|请问|想了解|打听|合法吗|合不合法|犯法吗|违法吗|有道理冇|有没有道理|"
    r"(?:有冇|有没有|有无)\S{0,4}(?:补助|补贴|资助|优惠|政策|培训|减免|规定|限制)"
)
ACTING = re.compile(
    r"帮我|帮忙|帮帮|帮她|帮他|帮我们|派|替我|给我办|给我查|查一下|查查|来看|来一趟|上门|处理|解决|麻烦你们|请你们|请工作人员|"
    r"申请一下|我要申请|我想申请|告诉工作人员|转告|联系我"
)
# Asking on someone's behalf ("幫我阿姨問的", "替我爸问一下") is asking to know, not for staff to act
# ("帮我问问乡里" is).
_KIN = r"(?:爸|妈|外婆|外公|婆婆|爷爷|奶奶|阿公|阿婆|老公|老婆|儿子|女儿|哥|弟|姐|妹|舅|叔|伯)"
ON_BEHALF = re.compile(rf"[帮替](?:我|我们)?(?:屋里)?(?:{_KIN}|阿姨|亲戚|朋友|邻居|老人家)\S{{0,2}}?问")
# A story of one's own family that asks staff to act ("我婆婆九十岁听不见 能不能帮她弄一个", "我爸走不动
# 可不可以派人上门帮他换", "你们能不能去学校问一下"): a need, even when a measure is named. Not when it
# asks whether, where or how ("有冇…可以帮", "能不能在东莞办", "医生可不可以上门看").
OWN_FAMILY = re.compile(rf"我(?:{_KIN}|男人|家|侄|孙|崽)|崽|屋里|我们村")
ASK_TO_ACT = re.compile(
    r"(?:能不能|可不可以|能否|请(?!假)|麻烦|想请|求求?|你们能|残联能|你们可以)[^\s，。？?]{0,6}?"
    r"(?:帮(?:他|她|我|忙|下)|派|安排|上门|来一趟|来看|出面|去\S{0,4}问)"
)
FOR_ME = re.compile(r"(?:你们|残联)能?(?:不能)?帮我")
WHETHER = re.compile(
    r"有冇|有没有|哪里|哪些|在哪|怎么|咋|几多|多少|(?:能不能|可不可以)(?:在|由我)|"
    r"(?:医生|村医|老师|学校|医院|窗口|乡镇|村里)\S{0,3}(?:能不能|可不可以|能否|可以)"
)
# Asking for the answers aloud, whatever else the message says ("帮我读出来 我在煮饭").
READ_ALOUD = re.compile(r"读出来|念出来|念给我听|读给我听|讲给我听|说给我听|发语音|用语音")
# Passing something on to the staff who handle their request ("给工作人员留个话", "转告来的人"):
# an addition, unless it is a new need ("…讲一声 我想申请…").
PASS_ON = re.compile(
    r"(?<!电话)(?:跟|和|给|告诉)(?:那个|那位)?(?:工作人员|他们|你们的人|来的人|那边|上门的人)(?:讲|说|留|带)(?!话|几句)|"
    r"告诉[^\s]{2,10}?(?:工作人员|来的人|负责的人)|转告|留个话|留句话|捎个话|"
    r"带个话|带句话|补充一下|再补充|加上去|加一句|也写上|写上去"
)
NEW_NEED = re.compile(r"申请|想办|要办")
# Asking for a person to talk to, or a number to call one ("残联电话多少 我自己打过去", "叫镇上的
# 专职委员联系我", "接通县残联", "我要找管补贴的那个干部"): a person, not the contact entry or a
# story. "找哪个干部" asks where to go (哪 / 谁 between the verb and the person); "请工作人员帮我…"
# or "…到我屋里来" asks the person to act (a request).
_PERSON = (
    r"(?:残联的?(?:人|干部|同志|领导)|你们的?干部|工作人员|领导|负责人|负责的人|管事的人|上面的人|做主的人|主任|"
    r"理事长|专职委员|真人|活人|人工|客服)"
)
# (a number: the federation's or staff's, or one to call them on; not 派出所电话多少)
_WHOSE = r"(?:残联|你们|工作人员|干部|领导|专职委员|负责)"
_NUMBER = (
    rf"{_WHOSE}[^\s]{{0,6}}?(?:电话|号码|联系方式)[^\s]{{0,4}}?(?:多少|几多|几号|发给我|给我|发我)|"
    rf"(?:给我|发给我|发我)(?:个|一个)?[^\s]{{0,4}}?{_WHOSE}[^\s]{{0,4}}?(?:电话|号码)|"
    rf"{_WHOSE}[^\s]{{0,4}}?(?:给我|发我)(?:个|一个)?(?:电话|号码)|"
    r"(?:电话|号码)[^\s]{0,6}?(?:我自己打|我打过去|打过去问|直接打)"
)
A_PERSON = re.compile(
    rf"接通|转接|(?:转给?|接|找|要)人工|对接[^\s]{{0,12}}?(?:同志|工作人员|干部)|(?:有冇|有没有|有无)(?:真人|活人|人工|客服|工作人员)|{_NUMBER}|"
    rf"(?:找|(?<!是)叫(?!做)|请|见|跟|(?<![协共相])同(?![意样时学事])|让)[^\s哪谁么什啥]{{0,8}}?{_PERSON}(?![帮到来去上])|"
    rf"{_PERSON}[^\s]{{0,6}}?(?:联系我|打电话给我|打给我|回个电话|回电话|来接电话)|"
    r"找管[^\s哪谁]{1,8}的(?:那个|那位)?(?:人|干部)|"
    r"(?:直接|当面)[^\s]{0,3}?(?:打电话|找人|问人)|电话[^\s]{0,4}?问人"
)
# …and the words that ask for a number: the reply first says none is on record.
NUMBER_ASK = re.compile(_NUMBER)
# Asking whether a measure exists or applies ("有冇那种白天送过去的地方", "他这种能进特困供养冇"):
# with no danger word, a hard life told to ask about help is a question, not an emergency.
MEASURE_QUESTION = re.compile(
    r"(?:有冇|有没有|有无)\S{0,12}?(?:政策|补助|补贴|救助|服务|地方|机构|那种|办法|优惠|培训|讲座|学校)|"
    r"能(?:进|领|办|申请|享受|吃)\S{0,8}(?:冇|吗|不)|可以(?:进|领|办|申请|享受)\S{0,8}(?:冇|吗)"
)
# Thanks and a goodbye together close the conversation ("谢谢 再见").
BYE = re.compile(r"再见|拜拜|再会|先这样|下次再|走了")
# A follow-up that names its new topic first ("养老保险呢 …", "那医保呢 …").
FOLLOWUP_LEAD = re.compile(r"\s*(?:那|还有)?\s*\S{1,6}呢(?:[\s，,？?]|$)")
# After the urgent reply: still in danger and asking what to do now.
# (where they are or a phone is a detail for the ticket, not this).
WHAT_NOW = re.compile(
    r"怎么办|咋办|咋个办|怎么搞|么子办法|还要多久|快点|快来|来人|来了冇|来了没|人呢|还冇来|还没来|救|"
    r"帮忙|帮我|帮帮|能帮|帮下|找人|派人|派个人|求求|求你|要不要|能不能等|再等|等.{0,8}再看"
)
# A greeting and nothing else: a way of addressing someone, then 好 / 早 / 您好.
_TITLE = r"(?:老师|领导|同志|医生|干部|师傅|大家|各位|你们|您|你|阿姨|叔叔|老板|工作人员|小妹|妹子|后生)们?"
_CALL = r"(?:在吗|在不在|在冇|在么|在没|有人吗|有人在吗|有冇人|有没有人)"
GREETING = re.compile(
    rf"(?:{_TITLE}(?:好|早|早上好|上午好|中午好|下午好|晚上好)|早上好|上午好|中午好|下午好|晚上好|您好|你好"
    rf"|(?:{_TITLE})?{_CALL}(?:{_TITLE})?)"
    r"(?:啊|呀|哇|哦|吖)?"
)
# Things people ask about that share words with the plan but are someone else's business (a
# marriage certificate, a driving licence, the civil-service exam, a phone bill): with no word of
# the plan in the message, a first message about them is out of scope.
LOOK_ALIKE = re.compile(
    r"结婚证|离婚证|驾照|驾驶证|行驶证|准生证|出生证|房产证|不动产|营业执照|健康证|护照|通行证|"
    r"公务员|考编|事业编|宅基地|话费|流量|宽带|快递|彩票|股票|基金|车险|违章|罚单"
)
# Asking about a filed request by its number ("单号…现在是什么状态").
TICKET_NUMBER = re.compile(r"(?:单号|编号|工单|求助号|xw-?[a-z0-9]{3,})")
STATUS_WORDS = re.compile(r"状态|进度|怎么样|到哪|处理|办好|有结果|回复")
# Waiting past what was promised, or asking whether staff saw it ("讲好三天回电话 到今朝一个电话都冇",
# "你们工作人员看到我的留言冇"): the status of a filed request.
WAITING = re.compile(
    r"(?:讲好|说好|讲了|说了|答应)\S{0,8}?(?:(?<!半)天|礼拜|星期|周|个月)\S{0,12}?(?:冇|没)|"
    r"(?:看到|收到|看了)(?:我的|我)\S{0,2}?(?:留言|求助|单子|申请|消息)(?:冇|没|吗|了冇|了吗|了没)|"
    r"等了\S{0,4}(?:(?<!半)天|礼拜|星期|周|个月)"
)
# "冇事了 我先去忙": someone saying all is well is not in danger (when no danger word is there).
ALL_CLEAR = re.compile(r"(?:冇|没|没有)(?:事|事情|么事|什么事)了")
# After the urgent reply: the danger is over ("找到了 在他老表屋里", "人回来了"): news for staff.
FOUND_SAFE = re.compile(
    r"找到了|找到人了|找着了|回来了|到家了|回屋了|到屋了|返屋了|(?:冇|没|没有)事了|人(?:冇|没|没有)事|平安"
)
