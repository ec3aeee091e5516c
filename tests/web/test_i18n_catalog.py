from xiaodian.web import i18n_tool


def test_every_message_in_code_and_templates_has_a_chinese_translation():
    assert i18n_tool.missing() == {}
