"""Reading the configuration's YAML where ``${NAME}`` is written unquoted."""

import pytest
import yaml

from gateway.configfile import parse_yaml


def test_a_reference_inside_a_flow_mapping_is_read_as_written() -> None:
    # Plain YAML refuses this line: "{" after "$" opens a nested flow mapping.
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load("options: {secret: ${HOOK_SECRET}, path: /hooks}")
    data = parse_yaml("options: {secret: ${HOOK_SECRET}, path: /hooks}")
    assert data == {"options": {"secret": "${HOOK_SECRET}", "path": "/hooks"}}


@pytest.mark.parametrize(
    "text",
    [
        "secret: ${HOOK_SECRET}",
        'secret: "${HOOK_SECRET}"',
        "secret: '${HOOK_SECRET}'",
        "secret: [${HOOK_SECRET}]",
        "secret: |\n  ${HOOK_SECRET}",
    ],
)
def test_bare_quoted_listed_and_block_references_read_the_same(text: str) -> None:
    value = parse_yaml(text)["secret"]
    assert (value[0] if isinstance(value, list) else value).strip() == "${HOOK_SECRET}"


def test_a_reference_within_a_longer_value_and_as_a_key_is_kept() -> None:
    data = parse_yaml("url: {a: https://${HOST}/scim, ${KEY}: x}")
    assert data == {"url": {"a": "https://${HOST}/scim", "${KEY}": "x"}}


def test_a_yaml_error_quotes_the_line_as_written_and_points_at_the_right_column() -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        parse_yaml("secret: ${HOOK_SECRET} x: y")
    message = str(raised.value)
    assert "secret: ${HOOK_SECRET} x: y" in message
    assert "column 25" in message  # the colon after x, as in the file


def test_text_holding_the_shield_characters_is_refused_not_misread() -> None:
    with pytest.raises(ValueError, match="reserved"):
        parse_yaml("secret: \u2983HOOK\u2984")
