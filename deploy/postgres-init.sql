-- The second database of compose.yaml: Rasa's conversations (TRACKER_STORE_URL).
CREATE DATABASE tracker OWNER xunwu;
