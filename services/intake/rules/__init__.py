"""Pure domain rules of the intake service (用电报装业务规则).

No database, no routes: plain functions over plain values, with the data transcribed from the
plans in JSON files beside the modules that load them. The application code calls them.

- :mod:`.identity` — resident ID numbers, unified social credit codes, mobiles; masking.
- :mod:`.documents` — which documents (申请资料) a stage may ask for.
- :mod:`.fees` — fee items (收费项目): banned names, extended services, 三零.
- :mod:`.external_lines` — external-line works approval (电力外线接入工程审批).
- :mod:`.three_zero` — 三零 eligibility and the whitelist (白名单).
- :mod:`.signing` — HMAC signatures for the government portal and webhooks.
- :mod:`.disclosure` — the public information-disclosure content (信息公开).
"""
