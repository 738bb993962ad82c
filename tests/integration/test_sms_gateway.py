"""TencentSmsClient against the loopback gateway simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from zxt.core.settings import Settings
from zxt.delivery.channels import tc3
from zxt.delivery.channels.tencent_sms import (
    NOT_SENT,
    PAUSE_CHANNEL,
    PERMANENT,
    RESCHEDULE,
    RETRY,
    SUBMITTED,
    SUPPRESS,
    UNKNOWN,
    TencentSmsClient,
    classify,
    mask_phone,
)
from zxt_sandbox.sms_gateway import SimulatorConfig, SimulatorHandle, Template, default_config

pytestmark = pytest.mark.integration

SECRET_ID = "AKIDzxtIntegrationTest01"
SECRET_KEY = "integration-secret"
APP_ID = "1400000001"
SIGN = "广水市税务局"
TEMPLATE_ID = "2400001"
TEMPLATE_TEXT = "尊敬的{1}：您的{2}（所属期{3}）申报截止日为{4}，请按时申报，避免影响纳税信用。拒收请回复R"
PARAMS = ["广水市某某商贸有限公司", "增值税", "2025-01", "2025-02-17"]
RENDERED = "尊敬的广水市某某商贸有限公司：您的增值税（所属期2025-01）申报截止日为2025-02-17，请按时申报，避免影响纳税信用。拒收请回复R"
OK_NUMBER = "13800138000"
BLACKLISTED = "13900000009"
SIM_FAILS_INTERNAL = "13700000001"
SIM_FAILS_QUOTA = "13700000002"


def make_config() -> SimulatorConfig:
    return SimulatorConfig(
        secrets={SECRET_ID: SECRET_KEY},
        app_id=APP_ID,
        sign_names=[SIGN],
        templates={TEMPLATE_ID: Template(4, TEMPLATE_TEXT)},
        blacklist={BLACKLISTED},
        fail_numbers={
            SIM_FAILS_INTERNAL: "InternalError.Timeout",
            SIM_FAILS_QUOTA: "LimitExceeded.AppDailyLimit",
        },
        daily_limit_per_number=2,
    )


def settings_for(url: str, secret_key: str = SECRET_KEY, timeout_s: float = 5.0) -> Settings:
    return Settings().with_(
        sms__endpoint=url,
        sms__region="ap-guangzhou",
        sms__secret_id=SECRET_ID,
        sms__secret_key=secret_key,
        sms__app_id=APP_ID,
        sms__sign_name=SIGN,
        sms__timeout_s=timeout_s,
    )


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "sms.jsonl"


@pytest.fixture
def gateway(record: Path) -> Iterator[SimulatorHandle]:
    with SimulatorHandle.start(make_config(), record=record) as handle:
        yield handle


@pytest.fixture
def client(gateway: SimulatorHandle) -> TencentSmsClient:
    return TencentSmsClient(settings_for(gateway.url))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_signed(
    url: str, body: bytes, timestamp: int, version: str = "2021-01-11", action: str = "SendSms"
) -> dict:
    host = url.split("//", 1)[1].rstrip("/")
    headers = tc3.sign_headers(SECRET_ID, SECRET_KEY, host, action, body, timestamp, "ap-guangzhou", version)
    response = requests.post(url, data=body, headers=headers, timeout=5)
    assert response.status_code == 200  # Tencent reports API errors inside an HTTP 200
    return response.json()["Response"]


# --- happy path ---------------------------------------------------------------------------------


def test_accepted_message_is_recorded_with_rendered_text(
    gateway: SimulatorHandle, client: TencentSmsClient, record: Path
) -> None:
    result = client.send([OK_NUMBER], TEMPLATE_ID, PARAMS, session_context="outbox:42")

    assert result.error_code is None and result.request_id
    [number] = result.per_number
    assert (number.phone, number.code, number.outcome) == (OK_NUMBER, "Ok", SUBMITTED)
    assert number.serial_no

    [message] = gateway.messages()
    assert message["phone"] == OK_NUMBER
    assert message["serial_no"] == number.serial_no
    assert message["template_id"] == TEMPLATE_ID
    assert message["params"] == PARAMS
    assert message["text"] == RENDERED
    assert message["display_text"] == f"【{SIGN}】{RENDERED}"
    assert message["sign_name"] == SIGN
    assert message["session_context"] == "outbox:42"
    assert message["received_at"].endswith("+08:00")
    assert [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()] == [message]


def test_default_config_matches_default_settings() -> None:
    settings = Settings().with_(sms__endpoint="http://127.0.0.1:1/")
    config = default_config(settings)
    assert config.templates[TEMPLATE_ID].params == 4  # from the dbt seed, or the built-in fallback
    with SimulatorHandle.start(config) as handle:
        defaults = Settings().with_(sms__endpoint=handle.url)
        result = TencentSmsClient(defaults).send([OK_NUMBER], TEMPLATE_ID, PARAMS, "outbox:1")
        assert result.per_number[0].outcome == SUBMITTED


# --- whole-call errors --------------------------------------------------------------------------


def test_bad_secret_is_signature_failure(gateway: SimulatorHandle) -> None:
    result = TencentSmsClient(settings_for(gateway.url, secret_key="not-the-key")).send(
        [OK_NUMBER, BLACKLISTED], TEMPLATE_ID, PARAMS, "outbox:1"
    )
    assert result.error_code == "AuthFailure.SignatureFailure" and result.request_id
    assert [(n.code, n.outcome) for n in result.per_number] == [
        ("AuthFailure.SignatureFailure", PERMANENT)
    ] * 2
    assert gateway.messages() == []


def test_stale_timestamp_is_signature_expire(gateway: SimulatorHandle, client: TencentSmsClient) -> None:
    body = client.build_body([OK_NUMBER], TEMPLATE_ID, PARAMS, "outbox:1")
    response = post_signed(gateway.url, body, timestamp=int(time.time()) - 600)
    assert response["Error"]["Code"] == "AuthFailure.SignatureExpire"
    assert response["RequestId"]
    # The same body signed now goes through: only the timestamp was wrong.
    assert post_signed(gateway.url, body, timestamp=int(time.time()))["SendStatusSet"][0]["Code"] == "Ok"


def test_protocol_errors_look_like_tencent(gateway: SimulatorHandle, client: TencentSmsClient) -> None:
    body = client.build_body([OK_NUMBER], TEMPLATE_ID, PARAMS, "")
    now = int(time.time())
    assert post_signed(gateway.url, body, now, version="2019-07-11")["Error"]["Code"] == "NoSuchVersion"
    assert post_signed(gateway.url, body, now, action="SendSmsNow")["Error"]["Code"] == "InvalidAction"
    assert post_signed(gateway.url, b"{not json", now)["Error"]["Code"] == "FailedOperation.JsonParseFail"
    too_many = json.dumps(
        {
            "PhoneNumberSet": [f"+86138{i:08d}" for i in range(201)],
            "SmsSdkAppId": APP_ID,
            "SignName": SIGN,
            "TemplateId": TEMPLATE_ID,
            "TemplateParamSet": PARAMS,
        }
    ).encode()
    assert post_signed(gateway.url, too_many, now)["Error"]["Code"] == "LimitExceeded.PhoneNumberCountLimit"
    assert gateway.messages() == []


def test_template_rules(gateway: SimulatorHandle, client: TencentSmsClient) -> None:
    wrong_count = client.send([OK_NUMBER], TEMPLATE_ID, PARAMS[:3], "")
    assert wrong_count.error_code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    assert wrong_count.per_number[0].outcome == PERMANENT
    unknown = client.send([OK_NUMBER], "9999999", PARAMS, "")
    assert unknown.error_code == "FailedOperation.TemplateIncorrectOrUnapproved"
    assert gateway.messages() == []


def test_client_refuses_more_than_200_numbers(client: TencentSmsClient) -> None:
    with pytest.raises(ValueError, match="1..200"):
        client.send([f"138{i:08d}" for i in range(201)], TEMPLATE_ID, PARAMS, "")


# --- per-number outcomes ------------------------------------------------------------------------


def test_per_number_failures_in_one_call(gateway: SimulatorHandle, client: TencentSmsClient) -> None:
    numbers = [OK_NUMBER, BLACKLISTED, "12345678901", SIM_FAILS_INTERNAL, SIM_FAILS_QUOTA]
    result = client.send(numbers, TEMPLATE_ID, PARAMS, "outbox:7")

    assert result.error_code is None
    assert [(n.phone, n.code, n.outcome) for n in result.per_number] == [
        (OK_NUMBER, "Ok", SUBMITTED),
        (BLACKLISTED, "FailedOperation.PhoneNumberInBlacklist", SUPPRESS),
        ("12345678901", "InvalidParameterValue.IncorrectPhoneNumber", PERMANENT),
        (SIM_FAILS_INTERNAL, "InternalError.Timeout", RETRY),
        (SIM_FAILS_QUOTA, "LimitExceeded.AppDailyLimit", PAUSE_CHANNEL),
    ]
    assert [n.serial_no is not None for n in result.per_number] == [True, False, False, False, False]
    assert [m["phone"] for m in gateway.messages()] == [OK_NUMBER]


def test_daily_limit_per_number(gateway: SimulatorHandle, client: TencentSmsClient) -> None:
    outcomes = [client.send([OK_NUMBER], TEMPLATE_ID, PARAMS, "").per_number[0] for _ in range(3)]
    assert [n.code for n in outcomes] == ["Ok", "Ok", "LimitExceeded.PhoneNumberDailyLimit"]
    assert outcomes[-1].outcome == RESCHEDULE
    assert client.send(["13800138001"], TEMPLATE_ID, PARAMS, "").per_number[0].outcome == SUBMITTED
    assert len(gateway.messages()) == 3

    gateway.reset()  # a new day, as far as the simulator is concerned
    assert client.send([OK_NUMBER], TEMPLATE_ID, PARAMS, "").per_number[0].outcome == SUBMITTED


# --- network failures ---------------------------------------------------------------------------


class StallingServer:
    """Accepts connections and reads the request, then stays silent (or hangs up)."""

    def __init__(self, hang_up: bool = False) -> None:
        self.hang_up = hang_up
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if self.hang_up:
                conn.close()
            else:
                self._open.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._open:
            conn.close()
        self.sock.close()


def test_read_timeout_is_unknown_and_never_resent() -> None:
    server = StallingServer()
    try:
        client = TencentSmsClient(settings_for(f"http://127.0.0.1:{server.port}/", timeout_s=0.5))
        started = time.monotonic()
        result = client.send([OK_NUMBER, BLACKLISTED], TEMPLATE_ID, PARAMS, "outbox:9")
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert [(n.code, n.outcome) for n in result.per_number] == [("Network.ReadTimeout", UNKNOWN)] * 2
    assert result.request_id is None
    assert elapsed < 3
    assert server.connections == 1  # one attempt only: a resend could text a taxpayer twice


def test_hang_up_after_request_is_unknown() -> None:
    server = StallingServer(hang_up=True)
    try:
        result = TencentSmsClient(settings_for(f"http://127.0.0.1:{server.port}/", timeout_s=2)).send(
            [OK_NUMBER], TEMPLATE_ID, PARAMS, ""
        )
    finally:
        server.close()
    assert (result.per_number[0].code, result.per_number[0].outcome) == ("Network.BrokenResponse", UNKNOWN)
    assert server.connections == 1


def test_connection_refused_is_not_sent() -> None:
    result = TencentSmsClient(settings_for(f"http://127.0.0.1:{free_port()}/", timeout_s=1)).send(
        [OK_NUMBER], TEMPLATE_ID, PARAMS, ""
    )
    assert (result.per_number[0].code, result.per_number[0].outcome) == ("Network.ConnectError", NOT_SENT)


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_serves_records_and_stops_on_sigterm(tmp_path: Path, record: Path) -> None:
    config_file = tmp_path / "sim.json"
    config_file.write_text(json.dumps(make_config().to_dict(), ensure_ascii=False), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zxt_sandbox.sms_gateway", "--host", "127.0.0.1", "--port", str(port)]
        + ["--config", str(config_file), "--record", str(record)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        handle = SimulatorHandle(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 15
        while not handle.healthy():
            assert proc.poll() is None and time.monotonic() < deadline, "simulator did not come up"
            time.sleep(0.05)
        result = TencentSmsClient(settings_for(handle.url)).send([OK_NUMBER], TEMPLATE_ID, PARAMS, "outbox:3")
        assert result.per_number[0].outcome == SUBMITTED
        assert [m["session_context"] for m in handle.messages()] == ["outbox:3"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert (out, err) == (b"", b"")
    assert json.loads(record.read_text(encoding="utf-8"))["text"] == RENDERED


# --- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("Ok", SUBMITTED),
        ("FailedOperation.PhoneNumberInBlacklist", SUPPRESS),
        ("LimitExceeded.PhoneNumberDailyLimit", RESCHEDULE),
        ("LimitExceeded.PhoneNumberOneHourLimit", RESCHEDULE),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", RESCHEDULE),
        ("LimitExceeded.PhoneNumberSameContentDailyLimit", RESCHEDULE),
        ("LimitExceeded.DeliveryFrequencyLimit", RESCHEDULE),
        ("LimitExceeded.AppDailyLimit", PAUSE_CHANNEL),
        ("LimitExceeded.AppMainlandChinaDailyLimit", PAUSE_CHANNEL),
        ("InternalError.Timeout", RETRY),
        ("InternalError", RETRY),
        ("RequestLimitExceeded", RETRY),
        ("RequestLimitExceeded.UinLimitExceeded", RETRY),
        ("HTTP.500", RETRY),
        ("HTTP.503", RETRY),
        ("HTTP.502", UNKNOWN),  # a proxy timeout: the request may have reached Tencent
        ("HTTP.504", UNKNOWN),
        ("HTTP.404", PERMANENT),
        ("InvalidParameterValue.IncorrectPhoneNumber", PERMANENT),
        ("FailedOperation.SignatureIncorrectOrUnapproved", PERMANENT),
        ("FailedOperation.TemplateIncorrectOrUnapproved", PERMANENT),
        ("FailedOperation.ContainSensitiveWord", PERMANENT),
        ("AuthFailure.SignatureExpire", PERMANENT),
        ("SomethingNew.NeverSeen", PERMANENT),
    ],
)
def test_classify(code: str, outcome: str) -> None:
    assert classify(code) == outcome


def test_mask_phone() -> None:
    assert mask_phone("13812341234") == "138****1234"
