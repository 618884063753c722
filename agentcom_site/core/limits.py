"""Every input limit of the hub in one place (PROTOCOL.md §1, "Limits").

Text limits are in characters, JSON field caps in bytes of compact UTF-8 JSON, numeric
ranges inclusive. A value outside its limit is refused with `validation_failed`.
"""

import re

# Text fields, in characters.
LIMITS = {
    "agent_id": 64,
    "description": 10_000,
    "title": 200,
    "status": 256,
    "channel": 64,
    "channel_description": 1_024,
    "token": 256,
    "reason": 2_000,
    "name": 256,
    "idempotency_key": 128,
    "capability": 128,
    "message_type": 64,
    "task_id": 128,
    "url": 2_000,
    # What a task says "done" means (PROTOCOL.md §4.5).
    "repo": 2_000,
    "branch": 200,
    "file_hint": 1_024,
    "success_criteria": 10_000,
    "command": 2_000,
    # What the sidecar reports about its checks (PROTOCOL.md §3.2).
    "step_label": 200,
    "step_output": 4_000,
    # What a result cost (PROTOCOL.md §3.2).
    "model": 128,
    "session_id": 256,
    # What an operator types into the dashboard's message forms (a payload's `text`).
    "chat_text": 4_000,
    # A holder's question and an operator's answer (PROTOCOL.md §3.9).
    "question": 4_000,
    "answer": 8_000,
    "feature": 64,
}

# Stored JSON fields, in bytes of their compact JSON.
JSON_FIELD_BYTES = {
    "metadata": 256 * 1024,
    "result": 256 * 1024,
    "progress": 256 * 1024,
    "payload": 256 * 1024,
    "broadcast_payload": 64 * 1024,
}

# Any JSON value: how deep arrays and objects may nest, and the integer range a
# database column (and a 64-bit client) can hold.
JSON_MAX_DEPTH = 32
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

# Numeric fields.
TOKENS_USED_MAX = 10**15
GENERATION_MAX = 2**31 - 1
MAX_RETRIES_MAX = 100
WIP_CAP_MAX = 100_000  # tasks held at once under one cap
COUNTER_MAX = 2**53 - 1  # seq, cursor, since, offset: exact in every JSON client
WAKE_ATTEMPT_MAX = 1_000
FILE_HINTS_MAX = 50  # paths a task may point at
VERIFICATION_STEPS_MAX = 20
DIFF_GLOBS_MAX = 50  # globs of one diff_within step
VERIFICATION_RETRIES_MAX = 10
STEP_TIMEOUT_S_MAX = 3600  # one verification step, seconds (from 1)
VERIFICATION_ATTEMPTS_MAX = VERIFICATION_RETRIES_MAX + 1  # reports one result may carry
DIFF_PATHS_MAX = 200  # paths a diff's shape lists (each list)
COST_USD_MAX = 1_000_000  # dollars one result may cost
FEATURES_MAX = 16  # features one identify may declare
BUDGET_USD_MAX = 1_000_000_000  # dollars a daily budget may be
# Timestamps (complete_by, time filters) may lie at most this far from now.
TIME_WINDOW_MS = 100 * 365 * 24 * 3600 * 1000

# Identifiers. Agent ids are ASCII so no two can look alike; they are unique ignoring
# case. Channel names are the same shape without the dot, an optional leading `#`, and
# are stored lowercased.
AGENT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
CHANNEL_PATTERN = r"#?[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
AGENT_ID_RE = re.compile(AGENT_ID_PATTERN)
# A person as a message's `to`: `operator:` and a username of ASCII letters, digits and
# `._@+-`, within the agent id's 64 characters. The `:` keeps it apart from every agent id.
OPERATOR_ADDRESS_PATTERN = r"operator:[A-Za-z0-9][A-Za-z0-9._@+-]{0,54}"
OPERATOR_ADDRESS_RE = re.compile(OPERATOR_ADDRESS_PATTERN)
# A feature a client declares in identify (`input_required`).
FEATURE_PATTERN = r"^[a-z0-9_]+$"
CHANNEL_RE = re.compile(CHANNEL_PATTERN)
