"""Plugin discovery, policy and isolation, with real entry points of an installed distribution.

The sample distribution ``logiq-samples`` (tests/sample_plugins) is pip-installed into the test
environment: these tests find its plugins exactly as the bot finds a user's plugins.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from beanie import Document

from logiq_core.framework.errors import ConfigurationError
from logiq_core.framework.features import FeatureInfo, Phase
from logiq_core.framework.hookspecs import hookimpl
from logiq_core.framework.plugins import PluginManager, installed_features
from logiq_core.framework.policy import Policy, load_policy

SAMPLES = ["hello", "broken_import", "misspelled", "raising_listener", "hanging_listener"]


def write_policy(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(body)
    return path


def test_sample_distribution_is_discovered_through_its_entry_points() -> None:
    records = {r.name: r for r in PluginManager(Policy()).discover()}
    for name in SAMPLES:
        assert records[name].distribution == "logiq-samples"
        assert records[name].version == "1.0.0"


def test_broken_plugins_fail_with_reasons_and_the_good_one_loads() -> None:
    manager = PluginManager(Policy())
    records = {r.name: r for r in manager.load()}
    assert records["hello"].status == "loaded"
    assert records["hello"].feature == FeatureInfo(
        "hello", "Says hello (a sample third-party plugin)", Phase.STABLE, 100
    )
    assert [c.name for c in records["hello"].commands] == ["hello"]
    assert len(records["hello"].listeners) == 1
    assert records["broken_import"].status == "failed"
    assert "this sample plugin fails on import" in (records["broken_import"].error or "")
    assert records["misspelled"].status == "failed"
    assert records["misspelled"].error == (
        "implements unknown hook logiq_register_comands (did you mean logiq_register_commands?)"
    )
    assert records["misspelled"].commands == []  # nothing half-registered
    assert records["raising_listener"].status == "loaded"  # it only fails at run time


def test_only_installed_and_enabled_plugins_are_imported(tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(
            tmp_path,
            "[logiq]\nenable_unlisted = false\n[plugins.hello]\nenabled = true\n"
            "[plugins.broken_import]\nenabled = false\n",
        )
    )
    records = {r.name: r for r in PluginManager(policy).load()}
    assert records["hello"].status == "loaded"
    assert records["broken_import"].status == "disabled"  # never imported, so it cannot fail
    assert records["misspelled"].status == "disabled"


def test_listed_but_not_installed_is_a_warning_naming_the_pip_command(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, "[plugins.karaoke]\nenabled = true\n"))
    records = {r.name: r for r in PluginManager(policy).load()}
    assert records["karaoke"].status == "not installed"
    assert 'pip install "logiq[karaoke]"' in (records["karaoke"].error or "")


def test_required_plugin_missing_is_an_error(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, "[plugins.karaoke]\nenabled = true\nrequired = true\n"))
    with pytest.raises(ConfigurationError, match="karaoke"):
        PluginManager(policy).load()


def test_required_plugin_failing_is_an_error(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, "[plugins.broken_import]\nrequired = true\n"))
    with pytest.raises(ConfigurationError, match="required plugin broken_import failed"):
        PluginManager(policy).load()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[plugins.x]\nenabeld = true\n", "unknown key(s) enabeld"),
        ("[plugins.x]\nenabled = 'yes'\n", "must be booleans"),
        ("[logiq]\nenable_unlisted = 1\n", "enable_unlisted must be true or false"),
        ("[plugins\n", "cannot read plugin policy"),
    ],
)
def test_bad_policy_file_is_a_clear_error(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_policy(write_policy(tmp_path, body))


def test_policy_order_and_configuration(tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(
            tmp_path,
            "[plugins.hello]\n[plugins.hello.config]\ngreeting = 'hi'\n[plugins.misspelled]\n",
        )
    )
    manager = PluginManager(policy)
    names = [r.name for r in manager.discover()]
    assert names[:2] == ["hello", "misspelled"]
    assert names[2:] == sorted(names[2:])
    assert manager.records["hello"].config == {"greeting": "hi"}


class BadCollection(Document):
    class Settings:
        name = "accounts"  # not prefixed with the feature name: the core prefixes it


class UnnamedCollection(Document):
    balance: int = 0


class WrongCollectionPlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("shop", "x")

    @hookimpl
    def logiq_document_models(self) -> list[type[Document]]:
        return [BadCollection, UnnamedCollection]


class WrongNamePlugin:
    @hookimpl
    def logiq_feature(self) -> FeatureInfo:
        return FeatureInfo("other", "x")


class WrongArgumentsPlugin:
    @hookimpl
    def logiq_feature(self, unexpected: int) -> FeatureInfo:
        return FeatureInfo("args", "x")


def test_plugin_contract_violations_fail_only_that_plugin() -> None:
    manager = PluginManager(
        Policy(),
        extra_plugins={
            "shop": WrongCollectionPlugin,
            "named": WrongNamePlugin,
            "args": WrongArgumentsPlugin,
        },
        use_entry_points=False,
    )
    records = {r.name: r for r in manager.load()}
    assert records["shop"].status == "loaded"
    assert BadCollection.Settings.name == "shop_accounts"
    assert UnnamedCollection.Settings.name == "shop_unnamed_collection"  # type: ignore[attr-defined]
    assert "logiq_feature names 'other' but the entry point is 'named'" in (records["named"].error or "")
    assert records["args"].status == "failed"
    assert "unexpected" in (records["args"].error or "")


def test_two_managers_share_nothing() -> None:
    first = PluginManager(Policy())
    second = PluginManager(Policy())
    first.load()
    second.load()
    hello_one, hello_two = first.records["hello"].plugin, second.records["hello"].plugin
    assert hello_one is not None and hello_two is not None and hello_one is not hello_two


def test_installed_features_follow_the_policy_order(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "[logiq]\nenable_unlisted = false\n[plugins.hello]\n")
    assert [f.name for f in installed_features(path)] == ["hello"]
