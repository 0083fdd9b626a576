"""The Anthropic Messages API front door: `/v1/messages`, `/v1/messages/count_tokens` and the
Anthropic shape of `/v1/models`, on the same engine as chat completions.

Data flows one way: `request` parses and maps the body to a `ChatRequest` → `api.chat` plans
and runs it → `encoder` (stream) or `response` (one message) writes the Anthropic wire format.
`errors` renders every failure on these routes in Anthropic's error shape; `models` maps
Claude model names to GLM models. Only `handlers` and `errors.anthropic_errors` touch aiohttp.
"""
