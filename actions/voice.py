"""What a resident says about the voice: on / off ("念给我听", "别念了"), and how to listen
("念短一点", "念慢一点", "再念一遍", "来源不用念"). The bridge keeps the settings; it reads
them from the custom JSON of the reply ({"voice": true} / {"listen": "shorter"}).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

# intent → what the bridge changes (speech.spoken.Request values)
LISTEN = {
    "voice_shorter": "shorter",
    "voice_slower": "slower",
    "voice_repeat": "repeat",
    "voice_no_source": "no_sources",
}


class ActionVoice(Action):
    def name(self) -> str:
        return "action_voice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent in LISTEN:
            dispatcher.utter_message(response=f"utter_{intent}")
            dispatcher.utter_message(json_message={"listen": LISTEN[intent]})
            return [SlotSet("answer_sources", [])]
        on = intent == "voice_on"
        dispatcher.utter_message(response="utter_voice_on" if on else "utter_voice_off")
        dispatcher.utter_message(json_message={"voice": on})
        return [SlotSet("voice", on), SlotSet("answer_sources", [])]
