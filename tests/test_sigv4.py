"""AWS Signature Version 4: AWS's published test suite, the IAM documentation example, Bedrock paths."""

import datetime
import hashlib
from typing import Dict, NamedTuple, Optional

import pytest

from llm_connector.auth import AwsSigV4Auth, aws_quote_path_segment
from llm_connector.errors import ConfigurationError

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = datetime.datetime(2015, 8, 30, 12, 36, 0, tzinfo=datetime.timezone.utc)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
STS_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflf"
    "KD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8"
    "Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIl"
    "TJabIQwj2ICCR/oLxBA=="
)


class Vector(NamedTuple):
    method: str
    url: str
    headers: Dict[str, str]
    body: Optional[bytes]
    canonical_request: str
    string_to_sign: str
    authorization: str
    session_token: Optional[str] = None


def lines(*parts: str) -> str:
    return "\n".join(parts)


def suite_sts(digest: str) -> str:
    return lines("AWS4-HMAC-SHA256", "20150830T123600Z", "20150830/us-east-1/service/aws4_request", digest)


def suite_authz(signed_headers: str, signature: str) -> str:
    return (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


HOST_DATE = ("host:example.amazonaws.com", "x-amz-date:20150830T123600Z", "")

# AWS Signature Version 4 test suite (aws-sig-v4-test-suite, 2015-08-30 edition): each request's
# canonical request (.creq), string to sign (.sts) and Authorization header (.authz), verbatim.
SUITE = {
    "get-vanilla": Vector(
        "GET",
        "https://example.amazonaws.com/",
        {},
        None,
        lines("GET", "/", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
        suite_authz("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ),
    "get-vanilla-query-order-key-case": Vector(
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        {},
        None,
        lines("GET", "/", "Param1=value1&Param2=value2", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"),
        suite_authz("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ),
    "get-vanilla-query-order-key": Vector(
        "GET",
        "https://example.amazonaws.com/?Param1=value2&Param1=Value1",
        {},
        None,
        lines("GET", "/", "Param1=Value1&Param1=value2", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89"),
        suite_authz("host;x-amz-date", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
    ),
    "get-vanilla-utf8-query": Vector(
        "GET",
        "https://example.amazonaws.com/?\u1234=bar",
        {},
        None,
        lines("GET", "/", "%E1%88%B4=bar", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073"),
        suite_authz("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ),
    "get-utf8": Vector(
        "GET",
        "https://example.amazonaws.com/\u1234",
        {},
        None,
        lines("GET", "/%E1%88%B4", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"),
        suite_authz("host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ),
    "get-unreserved": Vector(
        "GET",
        "https://example.amazonaws.com/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        {},
        None,
        lines(
            "GET",
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            "",
            *HOST_DATE,
            "host;x-amz-date",
            EMPTY_SHA256,
        ),
        suite_sts("6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9"),
        suite_authz("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ),
    "normalize-path/get-space": Vector(
        "GET",
        "https://example.amazonaws.com/example space/",
        {},
        None,
        lines("GET", "/example%20space/", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86"),
        suite_authz("host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    ),
    "normalize-path/get-slashes": Vector(
        "GET",
        "https://example.amazonaws.com//example//",
        {},
        None,
        lines("GET", "/example/", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015"),
        suite_authz("host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
    ),
    "normalize-path/get-relative-relative": Vector(
        "GET",
        "https://example.amazonaws.com/example1/example2/../..",
        {},
        None,
        lines("GET", "/", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"),
        suite_authz("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ),
    "normalize-path/get-slash-pointless-dot": Vector(
        "GET",
        "https://example.amazonaws.com/./example",
        {},
        None,
        lines("GET", "/example", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702"),
        suite_authz("host;x-amz-date", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
    ),
    "get-header-value-trim": Vector(
        "GET",
        "https://example.amazonaws.com/",
        {"My-Header1": " value1", "My-Header2": ' "a   b   c"'},
        None,
        lines(
            "GET",
            "/",
            "",
            "host:example.amazonaws.com",
            "my-header1:value1",
            'my-header2:"a b c"',
            "x-amz-date:20150830T123600Z",
            "",
            "host;my-header1;my-header2;x-amz-date",
            EMPTY_SHA256,
        ),
        suite_sts("a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7"),
        suite_authz(
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
    ),
    "post-vanilla": Vector(
        "POST",
        "https://example.amazonaws.com/",
        {},
        None,
        lines("POST", "/", "", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87"),
        suite_authz("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ),
    "post-vanilla-query": Vector(
        "POST",
        "https://example.amazonaws.com/?Param1=value1",
        {},
        None,
        lines("POST", "/", "Param1=value1", *HOST_DATE, "host;x-amz-date", EMPTY_SHA256),
        suite_sts("9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd"),
        suite_authz("host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ),
    "post-header-key-sort": Vector(
        "POST",
        "https://example.amazonaws.com/",
        {"My-Header1": "value1"},
        None,
        lines(
            "POST",
            "/",
            "",
            "host:example.amazonaws.com",
            "my-header1:value1",
            "x-amz-date:20150830T123600Z",
            "",
            "host;my-header1;x-amz-date",
            EMPTY_SHA256,
        ),
        suite_sts("9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65"),
        suite_authz(
            "host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
        ),
    ),
    "post-header-value-case": Vector(
        "POST",
        "https://example.amazonaws.com/",
        {"My-Header1": "VALUE1"},
        None,
        lines(
            "POST",
            "/",
            "",
            "host:example.amazonaws.com",
            "my-header1:VALUE1",
            "x-amz-date:20150830T123600Z",
            "",
            "host;my-header1;x-amz-date",
            EMPTY_SHA256,
        ),
        suite_sts("d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93"),
        suite_authz(
            "host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"
        ),
    ),
    "post-x-www-form-urlencoded": Vector(
        "POST",
        "https://example.amazonaws.com/",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"Param1=value1",
        lines(
            "POST",
            "/",
            "",
            "content-type:application/x-www-form-urlencoded",
            *HOST_DATE,
            "content-type;host;x-amz-date",
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        ),
        suite_sts("42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"),
        suite_authz(
            "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        ),
    ),
    "post-x-www-form-urlencoded-parameters": Vector(
        "POST",
        "https://example.amazonaws.com/",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf8"},
        b"Param1=value1",
        lines(
            "POST",
            "/",
            "",
            "content-type:application/x-www-form-urlencoded; charset=utf8",
            *HOST_DATE,
            "content-type;host;x-amz-date",
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        ),
        suite_sts("2e1cf7ed91881a30569e46552437e4156c823447bf1781b921b5d486c568dd1c"),
        suite_authz(
            "content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"
        ),
    ),
    "post-sts-token/post-sts-header-before": Vector(
        "POST",
        "https://example.amazonaws.com/",
        {},
        None,
        lines(
            "POST",
            "/",
            "",
            "host:example.amazonaws.com",
            "x-amz-date:20150830T123600Z",
            "x-amz-security-token:" + STS_TOKEN,
            "",
            "host;x-amz-date;x-amz-security-token",
            EMPTY_SHA256,
        ),
        suite_sts("c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6"),
        suite_authz(
            "host;x-amz-date;x-amz-security-token",
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        ),
        session_token=STS_TOKEN,
    ),
}


def suite_auth(service: str = "service", session_token: Optional[str] = None) -> AwsSigV4Auth:
    return AwsSigV4Auth(
        ACCESS_KEY, SECRET_KEY, "us-east-1", service, session_token=session_token, clock=lambda: SUITE_TIME
    )


@pytest.mark.parametrize("name", sorted(SUITE))
def test_the_canonical_request_matches_the_aws_test_suite(name: str) -> None:
    v = SUITE[name]
    parts = suite_auth(session_token=v.session_token).sign(v.method, v.url, dict(v.headers), v.body)
    assert parts.canonical_request == v.canonical_request


@pytest.mark.parametrize("name", sorted(SUITE))
def test_the_string_to_sign_matches_the_aws_test_suite(name: str) -> None:
    v = SUITE[name]
    parts = suite_auth(session_token=v.session_token).sign(v.method, v.url, dict(v.headers), v.body)
    assert parts.string_to_sign == v.string_to_sign


@pytest.mark.parametrize("name", sorted(SUITE))
def test_apply_sets_the_authorization_header_of_the_aws_test_suite(name: str) -> None:
    v = SUITE[name]
    headers = dict(v.headers)
    suite_auth(session_token=v.session_token).apply(v.method, v.url, headers, v.body)
    assert headers["Authorization"] == v.authorization
    assert headers["X-Amz-Date"] == "20150830T123600Z"


def test_the_aws_c_auth_session_token_vector_gives_its_authorization() -> None:
    # aws-c-auth's tests/aws-signing-test-suite/v4/get-vanilla-with-session-token (header-signed-request).
    token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
    headers: Dict[str, str] = {}
    suite_auth(session_token=token).apply("GET", "https://example.amazonaws.com/", headers, None)
    assert headers["X-Amz-Security-Token"] == token
    assert headers["Authorization"] == suite_authz(
        "host;x-amz-date;x-amz-security-token",
        "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    )


# --- the IAM example of AWS's signing documentation ---------------------------------------------------

IAM_URL = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
IAM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
IAM_CANONICAL_REQUEST = lines(
    "GET",
    "/",
    "Action=ListUsers&Version=2010-05-08",
    "content-type:application/x-www-form-urlencoded; charset=utf-8",
    "host:iam.amazonaws.com",
    "x-amz-date:20150830T123600Z",
    "",
    "content-type;host;x-amz-date",
    EMPTY_SHA256,
)


def test_the_iam_documentation_example_gives_its_canonical_request_and_hash() -> None:
    parts = suite_auth("iam").sign("GET", IAM_URL, dict(IAM_HEADERS), None)
    assert parts.canonical_request == IAM_CANONICAL_REQUEST
    assert (
        hashlib.sha256(parts.canonical_request.encode()).hexdigest()
        == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    assert parts.string_to_sign == lines(
        "AWS4-HMAC-SHA256",
        "20150830T123600Z",
        "20150830/us-east-1/iam/aws4_request",
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59",
    )


def test_the_iam_documentation_example_gives_its_signature() -> None:
    headers = dict(IAM_HEADERS)
    suite_auth("iam").apply("GET", IAM_URL, headers, None)
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


# --- Bedrock ------------------------------------------------------------------------------------------

MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BEDROCK_URL = (
    "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
    "anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke-with-response-stream"
)


def test_a_model_id_colon_is_percent_encoded_in_the_url() -> None:
    url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/%s/invoke-with-response-stream"
    assert url % aws_quote_path_segment(MODEL_ID) == BEDROCK_URL


def test_a_path_segment_keeps_only_unreserved_characters() -> None:
    assert aws_quote_path_segment("arn:aws:bedrock:us-east-1:1:inference-profile/us.x y~") == (
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x%20y~"
    )


def test_the_canonical_uri_encodes_the_encoded_colon_a_second_time() -> None:
    parts = bedrock_auth().sign("POST", BEDROCK_URL, {"Content-Type": "application/json"}, b"{}")
    assert parts.canonical_request.split("\n")[1] == (
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/invoke-with-response-stream"
    )


def test_a_bedrock_request_is_signed_as_botocore_signs_it() -> None:
    # Expected value computed with botocore 1.43.11 (SigV4Auth, service "bedrock") for the same request.
    headers = {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"}
    bedrock_auth().apply(
        "POST", BEDROCK_URL, headers, b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":10}'
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKID/20240620/us-east-1/bedrock/aws4_request, "
        "SignedHeaders=accept;content-type;host;x-amz-date, "
        "Signature=4f61201a8f872954c1c75e0ddb40bc9307800dd20ecc727edf90bf4f42451457"
    )


def bedrock_auth(clock_time: Optional[datetime.datetime] = None) -> AwsSigV4Auth:
    moment = clock_time or datetime.datetime(2024, 6, 20, 1, 2, 3, tzinfo=datetime.timezone.utc)
    return AwsSigV4Auth("AKID", "SECRET", "us-east-1", clock=lambda: moment)


# --- behaviour ----------------------------------------------------------------------------------------


def test_signing_again_with_a_later_clock_gives_a_new_signature_in_the_same_headers() -> None:
    times = iter([SUITE_TIME, SUITE_TIME + datetime.timedelta(seconds=1)])
    auth = AwsSigV4Auth(ACCESS_KEY, SECRET_KEY, "us-east-1", session_token="tok", clock=lambda: next(times))
    headers = {"content-type": "application/json", "x-amz-date": "stale"}
    auth.apply("POST", BEDROCK_URL, headers, b"{}")
    first = headers["Authorization"]
    auth.apply("POST", BEDROCK_URL, headers, b"{}")
    assert headers["Authorization"] != first
    assert headers["X-Amz-Date"] == "20150830T123601Z"
    assert sorted(k.lower() for k in headers) == [
        "authorization",
        "content-type",
        "x-amz-date",
        "x-amz-security-token",
    ]


def test_apply_adds_only_the_date_and_authorization_without_a_session_token() -> None:
    headers = {"Content-Type": "application/json"}
    bedrock_auth().apply("POST", BEDROCK_URL, headers, b"{}")
    assert sorted(headers) == ["Authorization", "Content-Type", "X-Amz-Date"]


def test_headers_a_transport_may_change_are_not_signed() -> None:
    headers = {
        "User-Agent": "llm-connector",
        "Content-Length": "2",
        "Accept-Encoding": "gzip",
        "Connection": "keep-alive",
        "Expect": "100-continue",
        "Authorization": "old",
        "anthropic-beta": "x",
    }
    parts = bedrock_auth().sign("POST", BEDROCK_URL, headers, b"{}")
    assert parts.signed_headers == "anthropic-beta;host;x-amz-date"


def test_a_non_default_port_is_part_of_the_signed_host() -> None:
    parts = bedrock_auth().sign("GET", "http://127.0.0.1:8080/model/x/invoke", {}, None)
    assert "host:127.0.0.1:8080\n" in parts.canonical_request


def test_a_default_port_is_left_out_of_the_signed_host() -> None:
    parts = bedrock_auth().sign("GET", "https://bedrock-runtime.us-east-1.amazonaws.com:443/x", {}, None)
    assert "host:bedrock-runtime.us-east-1.amazonaws.com\n" in parts.canonical_request


def test_an_explicit_host_header_is_the_signed_host() -> None:
    parts = bedrock_auth().sign("GET", "http://127.0.0.1:8080/x", {"Host": "bedrock.internal"}, None)
    assert "host:bedrock.internal\n" in parts.canonical_request


def test_an_already_encoded_query_is_not_encoded_twice() -> None:
    parts = bedrock_auth().sign("GET", "https://h.example/?b=a%20b&a=%E1%88%B4", {}, None)
    assert parts.canonical_request.split("\n")[2] == "a=%E1%88%B4&b=a%20b"


def test_a_naive_clock_is_taken_as_utc_and_an_aware_one_is_converted() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    naive = bedrock_auth(datetime.datetime(2024, 6, 20, 1, 2, 3)).sign("GET", BEDROCK_URL, {}, None)
    aware = bedrock_auth(datetime.datetime(2024, 6, 20, 3, 2, 3, tzinfo=plus_two)).sign(
        "GET", BEDROCK_URL, {}, None
    )
    assert naive.amz_date == aware.amz_date == "20240620T010203Z"


def test_an_invalid_port_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        bedrock_auth().apply("GET", "https://h.example:99999/", {}, None)


def test_repr_and_str_hide_both_keys() -> None:
    auth = AwsSigV4Auth("AKIAVISIBLE", "very-secret-key", "eu-west-1", session_token="session-secret")
    for text in (repr(auth), str(auth)):
        assert "AKIAVISIBLE" not in text and "very-secret-key" not in text and "session-secret" not in text
    assert repr(auth) == "AwsSigV4Auth(region='eu-west-1', service='bedrock', <hidden>)"


def test_has_credentials_needs_both_keys() -> None:
    assert AwsSigV4Auth("a", "b", "us-east-1").has_credentials
    assert not AwsSigV4Auth("a", "", "us-east-1").has_credentials


def test_a_header_set_to_none_is_not_signed_because_requests_drops_it() -> None:
    headers: Dict[str, Optional[str]] = {"Accept": None, "Content-Type": "application/json"}
    parts = bedrock_auth().sign("POST", BEDROCK_URL, headers, b"{}")  # type: ignore[arg-type]
    assert parts.signed_headers == "content-type;host;x-amz-date"
