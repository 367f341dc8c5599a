"""The fake Slack answers what `slipway preflight` asks (auth.test, conversations.list/info, users.info) in Slack's
documented shapes, through the real slack_sdk client, and refuses a post where the bot is not a member."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slipway_dev.local.fake_slack import FakeSlack

TOKEN = "xoxb-fake-slack-test"


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, WebClient]]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake, WebClient(token=TOKEN, base_url=fake.base_url)


def test_channels_members_and_users(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, web = slack
    deploys = fake.add_channel("#deploys")
    quiet = fake.add_channel("#quiet", member=False)
    secret = fake.add_channel("#secret", member=False, private=True)
    fake.add_user("U0ALICE", "alice")

    assert web.auth_test()["user"] == "slipway"
    listed = {c["name"]: c for c in web.conversations_list(types="public_channel,private_channel")["channels"]}
    assert set(listed) == {"deploys", "quiet"}  # a private channel shows only to its members
    assert listed["deploys"]["id"] == deploys and listed["deploys"]["is_member"] is True
    assert web.conversations_info(channel=quiet)["channel"]["is_member"] is False
    with pytest.raises(SlackApiError) as refused:
        web.conversations_info(channel=secret)
    assert refused.value.response["error"] == "channel_not_found"
    assert web.users_info(user="U0ALICE")["user"]["name"] == "alice"
    with pytest.raises(SlackApiError) as refused:
        web.users_info(user="U0NOBODY")
    assert refused.value.response["error"] == "user_not_found"


def test_posting_where_the_bot_is_not_a_member_is_refused(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, web = slack
    fake.add_channel("#quiet", member=False)
    with pytest.raises(SlackApiError) as refused:
        web.chat_postMessage(channel="#quiet", text="hello")
    assert refused.value.response["error"] == "not_in_channel"
    posted = web.chat_postMessage(channel="#new", text="hello")  # a channel first posted to: the bot is in it
    assert posted["channel"] == fake.channel_ids["#new"]
    assert fake.channel_name(posted["channel"]) == "#new"
    assert web.chat_update(channel=posted["channel"], ts=posted["ts"], text="edited")["ok"]
    assert fake.channels[posted["channel"]]["name"] == "new"  # updating by id keeps the channel's name
