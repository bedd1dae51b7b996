"""Voice on / off from free text ("念给我听", "别念了"); the bridge keeps the setting."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionVoice(Action):
    def name(self) -> str:
        return "action_voice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        on = (tracker.latest_message.get("intent") or {}).get("name") == "voice_on"
        dispatcher.utter_message(response="utter_voice_on" if on else "utter_voice_off")
        dispatcher.utter_message(json_message={"voice": on})
        return [SlotSet("voice", on), SlotSet("answer_sources", [])]
