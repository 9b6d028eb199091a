"""Conformance, protocol 2026-07-28: the `input-required-result-*` SERVER scenarios (multi round-trip requests, SEP-2322).

One test per scenario of the official suite's 2026-07-28 requirement list, named after the scenario id. Each test
re-states, in our own code, what that scenario sends to the `mcp-conformance-server` and what it checks; the
scenario's WARNING-level checks (SHOULDs) are asserted too, because the suite marks a scenario with a warning as not
passed. Every request is a raw stateless POST (no handshake, `_meta` in each request, the standard headers); every
retry is an independent request that may be served by another replica, so anything a later round needs has to travel
in `requestState`. What the server sends is schema-validated by the `conformance` fixture's tee.

The tools and the prompt these scenarios call are described in /tmp/conf/contract-mrtr.md (names, rounds, texts).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance_wire import OWN_CLIENT_INFO, VERSION, post, with_meta

pytestmark = pytest.mark.anyio

WAIT_SECONDS = 10.0  # bound on any single exchange

ELICIT_TOOL = "test_input_required_result_elicitation"
SAMPLING_TOOL = "test_input_required_result_sampling"
ROOTS_TOOL = "test_input_required_result_list_roots"
STATE_TOOL = "test_input_required_result_request_state"
MULTI_INPUT_TOOL = "test_input_required_result_multiple_inputs"
MULTI_ROUND_TOOL = "test_input_required_result_multi_round"
TAMPER_TOOL = "test_input_required_result_tampered_state"
CAPS_TOOL = "test_input_required_result_capabilities"
MRTR_PROMPT = "test_input_required_result_prompt"


# --------------------------------------------------------------------------------------------------
# Raw stateless requests (conformance_wire.py)
# --------------------------------------------------------------------------------------------------


async def rpc(conformance, method: str, params: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """POSTs one JSON-RPC request (params plus the stateless `_meta`, whose defaults `meta` overrides) through the
    validating tee and returns the JSON-RPC response with its id, from a JSON body or from an SSE stream (read only
    until that response arrives). Bounded by WAIT_SECONDS."""
    async with conformance.http() as http:
        reply = await post(
            http, conformance.url, method, with_meta({**params, "_meta": meta}, client_info=OWN_CLIENT_INFO), timeout=WAIT_SECONDS
        )
    assert not reply.timed_out, f"{method}: no response to id {reply.rid} within {WAIT_SECONDS:.0f} s: {reply.describe()}"
    if "text/event-stream" not in reply.content_type:
        assert reply.content_type.startswith("application/json"), f"{method}: {reply.describe()}"
    msg = reply.body
    assert isinstance(msg, dict) and msg.get("id") == reply.rid, f"{method}: no JSON-RPC response to id {reply.rid}: {reply.describe()}"
    return msg


async def call_tool(conformance, name: str, extra: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return await rpc(conformance, "tools/call", {"name": name, "arguments": {}, **(extra or {})}, meta)


def retry_params(first: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    """The retry's extra params: the inputResponses, and requestState echoed exactly iff the server sent one."""
    params: dict[str, Any] = {"inputResponses": responses}
    if "requestState" in first:
        params["requestState"] = first["requestState"]
    return params


# The client results the harness answers input requests with (deliberately without `resultType`).
def elicit_accept(content: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": content}


def sampling_answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": {"type": "text", "text": text}, "model": "test-model", "stopReason": "endTurn"}


def roots_answer() -> dict[str, Any]:
    return {"roots": [{"uri": "file:///test/root", "name": "Test Root"}]}


# --------------------------------------------------------------------------------------------------
# Judging results the way the scenarios do
# --------------------------------------------------------------------------------------------------


def result_of(msg: dict[str, Any], what: str) -> dict[str, Any]:
    assert "error" not in msg, f"{what}: JSON-RPC error {msg['error']!r}"
    result = msg.get("result")
    assert isinstance(result, dict), f"{what}: no result in {msg!r}"
    return result


def input_required(msg: dict[str, Any], what: str) -> dict[str, Any]:
    result = result_of(msg, what)
    assert result.get("resultType") == "input_required", f"{what}: expected an InputRequiredResult, got {result!r}"
    return result


def complete(msg: dict[str, Any], what: str) -> dict[str, Any]:
    result = result_of(msg, what)
    assert result.get("resultType") != "input_required", f"{what}: expected a complete result, got {result!r}"
    return result


def is_complete(msg: dict[str, Any]) -> bool:
    result = msg.get("result")
    return "error" not in msg and isinstance(result, dict) and result.get("resultType") != "input_required"


def requests_of(result: dict[str, Any], what: str) -> dict[str, Any]:
    reqs = result.get("inputRequests")
    assert isinstance(reqs, dict), f"{what}: InputRequiredResult without inputRequests: {result!r}"
    return reqs


def first_request(result: dict[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    reqs = requests_of(result, what)
    assert reqs, f"{what}: inputRequests is empty"
    key = next(iter(reqs))
    return key, reqs[key]


def state_of(result: dict[str, Any], what: str) -> str:
    state = result.get("requestState")
    assert isinstance(state, str) and state, f"{what}: InputRequiredResult without a non-empty string requestState: {result!r}"
    return state


def stateful_round(msg: dict[str, Any], what: str) -> tuple[dict[str, Any], str, str]:
    """An InputRequiredResult with a requestState: the result, its state and the key of its first input request."""
    result = input_required(msg, what)
    state = state_of(result, what)
    key, _ = first_request(result, what)
    return result, state, key


def texts(result: dict[str, Any]) -> list[str]:
    return [c.get("text", "") for c in result.get("content") or [] if isinstance(c, dict) and c.get("type") == "text"]


# --------------------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("input-required-result-basic-elicitation", version=VERSION, scored=True)
async def test_input_required_result_basic_elicitation(conformance):
    first = input_required(await call_tool(conformance, ELICIT_TOOL), "round 1")
    reqs = requests_of(first, "round 1")
    assert "user_name" in reqs, f"round 1: inputRequests has no key 'user_name': {reqs!r}"
    assert reqs["user_name"].get("method") == "elicitation/create", reqs["user_name"]

    final = complete(
        await call_tool(conformance, ELICIT_TOOL, retry_params(first, {"user_name": elicit_accept({"name": "Alice"})})),
        "round 2",
    )
    content = final.get("content")
    assert isinstance(content, list) and content, f"round 2: complete result without a content array: {final!r}"


@pytest.mark.scenario("input-required-result-basic-sampling", version=VERSION, scored=True)
async def test_input_required_result_basic_sampling(conformance):
    first = input_required(await call_tool(conformance, SAMPLING_TOOL), "round 1")
    key, req = first_request(first, "round 1")
    assert req.get("method") == "sampling/createMessage", f"round 1: first input request is {req!r}"

    complete(
        await call_tool(
            conformance, SAMPLING_TOOL, retry_params(first, {key: sampling_answer("The capital of France is Paris.")})
        ),
        "round 2",
    )


@pytest.mark.scenario("input-required-result-basic-list-roots", version=VERSION, scored=True)
async def test_input_required_result_basic_list_roots(conformance):
    first = input_required(await call_tool(conformance, ROOTS_TOOL), "round 1")
    key, req = first_request(first, "round 1")
    assert req.get("method") == "roots/list", f"round 1: first input request is {req!r}"

    complete(await call_tool(conformance, ROOTS_TOOL, retry_params(first, {key: roots_answer()})), "round 2")


@pytest.mark.scenario("input-required-result-request-state", version=VERSION, scored=True)
async def test_input_required_result_request_state(conformance):
    _, state, key = stateful_round(await call_tool(conformance, STATE_TOOL), "round 1")

    final = complete(
        await call_tool(
            conformance,
            STATE_TOOL,
            {"inputResponses": {key: elicit_accept({"ok": True})}, "requestState": state},
        ),
        "round 2",
    )
    # The scenario requires the final text to contain "state-ok" (proof the echoed state was validated).
    assert any("state-ok" in t for t in texts(final)), f"round 2: no text containing 'state-ok': {final!r}"


@pytest.mark.scenario("input-required-result-multiple-input-requests", version=VERSION, scored=True)
async def test_input_required_result_multiple_input_requests(conformance):
    first = input_required(await call_tool(conformance, MULTI_INPUT_TOOL), "round 1")
    reqs = requests_of(first, "round 1")
    state_of(first, "round 1")
    assert len(reqs) >= 3, f"round 1: expected at least 3 input requests, got {list(reqs)}"
    methods = {r.get("method") for r in reqs.values()}
    assert {"elicitation/create", "sampling/createMessage", "roots/list"} <= methods, f"round 1: methods {methods}"

    answers: dict[str, Any] = {}
    for key, req in reqs.items():
        if req.get("method") == "elicitation/create":
            answers[key] = elicit_accept({"name": "Alice"})
        elif req.get("method") == "sampling/createMessage":
            answers[key] = sampling_answer("Hello there!")
        elif req.get("method") == "roots/list":
            answers[key] = roots_answer()
    complete(await call_tool(conformance, MULTI_INPUT_TOOL, retry_params(first, answers)), "round 2")


@pytest.mark.scenario("input-required-result-multi-round", version=VERSION, scored=True)
async def test_input_required_result_multi_round(conformance):
    _, s1, k1 = stateful_round(await call_tool(conformance, MULTI_ROUND_TOOL), "round 1")

    _, s2, k2 = stateful_round(
        await call_tool(
            conformance, MULTI_ROUND_TOOL, {"inputResponses": {k1: elicit_accept({"name": "Alice"})}, "requestState": s1}
        ),
        "round 2",
    )
    assert s2 != s1, "round 2: requestState did not change between rounds"

    # Only the newest round's answer is sent: the first round's must live in the state.
    complete(
        await call_tool(
            conformance, MULTI_ROUND_TOOL, {"inputResponses": {k2: elicit_accept({"color": "blue"})}, "requestState": s2}
        ),
        "round 3",
    )


@pytest.mark.scenario("input-required-result-missing-input-response", version=VERSION, scored=True)
async def test_input_required_result_missing_input_response(conformance):
    # A (first) request whose inputResponses answer nothing the tool asked for: re-ask, do not error, do not complete.
    msg = await call_tool(conformance, ELICIT_TOOL, {"inputResponses": {"wrong_key": elicit_accept({"data": "wrong"})}})
    assert "error" not in msg, f"JSON-RPC error instead of a new InputRequiredResult re-requesting the input: {msg['error']!r}"
    input_required(msg, "retry with the wrong key")


@pytest.mark.scenario("input-required-result-non-tool-request", version=VERSION, scored=True)
async def test_input_required_result_non_tool_request(conformance):
    first = input_required(await rpc(conformance, "prompts/get", {"name": MRTR_PROMPT}), "prompts/get round 1")
    key, _ = first_request(first, "prompts/get round 1")

    params = {"name": MRTR_PROMPT, **retry_params(first, {key: elicit_accept({"context": "test context"})})}
    final = complete(await rpc(conformance, "prompts/get", params), "prompts/get round 2")
    assert "messages" in final, f"prompts/get round 2: complete result is not a GetPromptResult (no messages): {final!r}"


@pytest.mark.scenario("input-required-result-result-type", version=VERSION, scored=True)
async def test_input_required_result_result_type(conformance):
    result = result_of(await call_tool(conformance, ELICIT_TOOL), "round 1")
    assert "resultType" in result, f"resultType missing: {result!r}"
    assert result["resultType"] == "input_required", f"resultType is {result['resultType']!r}"


@pytest.mark.scenario("input-required-result-unsupported-methods", version=VERSION, scored=True)
async def test_input_required_result_unsupported_methods(conformance):
    for method in ("tools/list", "prompts/list"):
        msg = await rpc(conformance, method, {})
        result = msg.get("result")
        assert not (isinstance(result, dict) and result.get("resultType") == "input_required"), (
            f"{method} answered with an InputRequiredResult: {result!r}"
        )


@pytest.mark.scenario("input-required-result-tampered-state", version=VERSION, scored=True)
async def test_input_required_result_tampered_state(conformance):
    _, state, key = stateful_round(await call_tool(conformance, TAMPER_TOOL), "round 1")

    msg = await call_tool(
        conformance, TAMPER_TOOL, {"inputResponses": {key: elicit_accept({"ok": True})}, "requestState": state + "-TAMPERED"}
    )
    # Only a JSON-RPC error is a rejection; completing or asking again both mean the state was not verified.
    assert "error" in msg, f"tampered requestState not rejected with a JSON-RPC error: {msg.get('result')!r}"


@pytest.mark.scenario("input-required-result-capability-check", version=VERSION, scored=True)
async def test_input_required_result_capability_check(conformance):
    # Only sampling declared (protocol version and client info still sent): no elicitation may be requested.
    msg = await call_tool(conformance, CAPS_TOOL, meta={"io.modelcontextprotocol/clientCapabilities": {"sampling": {}}})
    result = input_required(msg, "call with sampling-only capabilities")
    for key, req in (result.get("inputRequests") or {}).items():
        assert req.get("method") != "elicitation/create", (
            f"input request {key!r} is elicitation/create but the client did not declare elicitation"
        )


@pytest.mark.scenario("input-required-result-ignore-extra-params", version=VERSION, scored=True)
async def test_input_required_result_ignore_extra_params(conformance):
    responses = {
        "user_name": elicit_accept({"name": "Alice"}),
        "unknown_extra_key": {"action": "accept", "content": {"foo": "bar"}},
        "another_unexpected": {"action": "accept", "content": {"baz": 123}},
    }
    msg = await call_tool(conformance, ELICIT_TOOL, {"inputResponses": responses})
    complete(msg, "inputResponses with extra unknown keys")


@pytest.mark.scenario("input-required-result-validate-input", version=VERSION, scored=True)
async def test_input_required_result_validate_input(conformance):
    # A number where an ElicitResult belongs: a JSON-RPC error or a new InputRequiredResult, never completion.
    msg = await call_tool(conformance, ELICIT_TOOL, {"inputResponses": {"user_name": 12345}})
    assert not is_complete(msg), f"invalid inputResponses (a number) accepted with a complete result: {msg!r}"

    # inputResponses null: a protocol-level error; anything but silent completion is accepted by the scenario.
    msg = await call_tool(conformance, ELICIT_TOOL, {"inputResponses": None})
    assert not is_complete(msg), f"inputResponses null accepted with a complete result: {msg!r}"
