"""The typed config: defaults per section, unknown keys and bad rules named."""

from __future__ import annotations

import pytest

from pqa.config import ConfigError, load_config, parse_config


def test_section_left_out_keeps_its_default():
    config = parse_config({"events": {"value": ["Song Played"]}})

    assert config.events.value == ["Song Played"]
    assert config.events.collaboration == []
    assert config.pages.pricing == ["/pricing*"]
    assert config.conversion.min_amount == 15000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"events": {"valu": ["x"]}}, r"unknown key 'events\.valu'"),
        ({"conversoin": {}}, r"unknown key 'conversoin'"),
        ({"conversion": {"min_amount": -1}}, r"conversion\.min_amount"),
        ({"events": {"role_change": {"evnt": "x"}}}, r"unknown key 'events\.role_change\.evnt'"),
    ],
    ids=["misspelled-role", "misspelled-section", "negative-amount", "nested-key"],
)
def test_invalid_config_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_rule_over_unknown_feature_names_the_rule():
    rules = {"all_of": [{"name": "big", "feature": "active_userz", "op": ">=", "value": 7}]}

    with pytest.raises(ConfigError, match=r"rule 'big' uses unknown feature 'active_userz'"):
        parse_config({"pqa_rules": rules})


def test_rule_comparing_number_with_text_is_rejected():
    rules = {"any_of": [{"name": "odd", "feature": "active_users_7d", "op": ">", "value": "x"}]}

    with pytest.raises(ConfigError, match=r"rule 'odd' compares numeric feature"):
        parse_config({"pqa_rules": rules})


def test_duplicate_rule_names_are_rejected():
    rule = {"name": "seven", "feature": "active_users_28d", "op": ">=", "value": 7}

    with pytest.raises(ConfigError, match=r"repeated: seven"):
        parse_config({"pqa_rules": {"all_of": [rule], "any_of": [rule]}})


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_config(tmp_path / "nope.yaml")

    bad = tmp_path / "bad.yaml"
    bad.write_text("events: [unclosed")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config(bad)

    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"must hold a mapping"):
        load_config(listed)


def test_vocabulary_maps_events_and_page_globs():
    config = parse_config(
        {
            "events": {"value": ["Song Played"], "invite": ["Friend Invited"]},
            "pages": {
                "pricing": ["/plans*"],
                "security": [],
                "legal": ["/legal/*"],
                "enterprise": [],
            },
        }
    )

    assert config.events.role_of()["Song Played"] == "value"
    assert config.events.role_of()["Friend Invited"] == "invite"
    assert config.pages.role_of_path("/Plans/compare") == "pricing"
    assert config.pages.role_of_path("/legal/dpa") == "legal"
    assert config.pages.role_of_path("/legal") is None


def test_personal_domains_are_normalised():
    config = parse_config({"personal_domains": ["Gmail.com", " @proton.me", "gmail.com"]})

    assert config.personal_domains == ["gmail.com", "proton.me"]


def test_fingerprint_changes_with_settings():
    assert load_config().fingerprint() == load_config().fingerprint()
    assert parse_config({"conversion": {"min_amount": 1}}).fingerprint() != (
        load_config().fingerprint()
    )
