"""The texts: Rasa's own in domain.yml, everything else in texts.yml, both behind say();
changing texts.yml retrains nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from common.config import ROOT
from common.texts import own_texts, rasa_responses, responses, say
from launcher.training import INPUTS, inputs_hash

CODE = [p for d in ("actions", "bot", "common", "launcher", "tickets", "rasa_addons") for p in (ROOT / d).rglob("*.py")]


def test_each_name_lives_in_one_file_and_rasa_keeps_only_its_own() -> None:
    assert not set(rasa_responses()) & set(own_texts())
    assert not [n for n in rasa_responses() if n.startswith(("utter_bot_", "utter_staff_", "utter_word_"))]
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert set(domain["responses"]) == set(rasa_responses())
    assert len(own_texts()) > 80


def test_every_name_the_code_says_exists() -> None:
    known = responses()
    used, prefixes = set(), set()
    for path in CODE:
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'say\(\s*"([a-z_0-9]+)"', source))
        used |= set(re.findall(r'"(utter_[a-z_0-9]+)" if ', source)) | set(
            re.findall(r' else "(utter_[a-z_0-9]+)"', source)
        )
        prefixes |= set(re.findall(r'say\(\s*f"([a-z_0-9]+)\{', source))
    assert used and not used - set(known)
    for prefix in prefixes:
        assert any(name.startswith(prefix) for name in known), prefix


def test_placeholders_are_filled() -> None:
    assert say("utter_bot_staff_reply", ticket="XW-ABCDE", text="明天来电") == (
        "县残联工作人员回复您（求助 XW-ABCDE）：\n明天来电"
    )
    with pytest.raises(KeyError):
        say("utter_bot_staff_reply", ticket="XW-ABCDE")


def _copy_inputs(to: Path) -> None:
    for rel in (*INPUTS, "texts.yml"):
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, to / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (to / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, to / rel)


def test_a_new_wording_in_texts_yml_retrains_nothing_but_one_in_domain_does(tmp_path: Path) -> None:
    _copy_inputs(tmp_path)
    model = tmp_path / "no-model"
    before = inputs_hash(model, root=tmp_path)
    assert before == inputs_hash(model, root=ROOT)
    texts = tmp_path / "texts.yml"
    texts.write_text(texts.read_text(encoding="utf-8").replace("认领", "接手"), encoding="utf-8")
    assert inputs_hash(model, root=tmp_path) == before
    domain = tmp_path / "domain.yml"
    domain.write_text(domain.read_text(encoding="utf-8").replace("不客气", "不用谢"), encoding="utf-8")
    assert inputs_hash(model, root=tmp_path) != before
