"""The OpenAI Responses API front door (`/v1/responses`), on the chat-completions engine.

    request.py  body → `ResponsesRequest`; input items → the engine's `ChatRequest`   (pure)
    objects.py  the `response` object and its output items, usage mapping            (pure)
    encoder.py  `chat.completion.chunk` dicts → Responses stream events              (pure)
    store.py    stored responses for `previous_response_id`, GET and DELETE          (pure)
    items.py    stored input items as `GET …/input_items` lists them                 (pure)
    handlers.py the routes: orchestration only

Data flows one way: parse → `plan_chat` → `stream_chunks` → encoder → SSE or one JSON object.
"""
