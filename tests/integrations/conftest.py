"""Fixtures: a recording HTTP server and an SMTP server, each stopped in teardown."""

import pytest

from servers import Mailbox, Recorder


@pytest.fixture
def http():
    server = Recorder().start()
    yield server
    server.stop()


@pytest.fixture
def smtp():
    pytest.importorskip("aiosmtpd")
    box = Mailbox().start()
    yield box
    box.stop()
