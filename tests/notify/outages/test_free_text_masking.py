"""Notes that dispatchers type into an outage (抢修进度, reasons) may carry a customer's ID
number or phone: dispatchers see them whole, administrators masked, in the outage and in the
messages made from it (shared.masking.masked_unless)."""

from __future__ import annotations

from tests.notify.outages.test_outages import customers, dispatcher, planned  # noqa: F401

MOBILE = "13912345678"
ID = "370502198502031234"
TYPED = f"联系客户{MOBILE}，身份证{ID}"
MASKED = ("139****5678", "370502********1234")


def shows_whole(text: str) -> bool:
    return MOBILE in text and ID in text


def masked(text: str) -> bool:
    return MOBILE not in text and ID not in text and all(m in text for m in MASKED)


class TestOutageNotes:
    async def test_dispatchers_see_them_whole_admins_masked(
        self,
        dispatcher,  # noqa: F811
        customers,  # noqa: F811
        notify_admin,
    ):
        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        await dispatcher.post(f"/outages/{oid}/start", json={})
        progress = await dispatcher.post(f"/outages/{oid}/progress", json={"note": TYPED})
        assert progress.status_code == 200, progress.text
        assert shows_whole(progress.json()["updates"][-1]["note"])
        mine = (await dispatcher.get(f"/outages/{oid}")).json()
        theirs = (await notify_admin.get(f"/outages/{oid}")).json()
        assert shows_whole(mine["updates"][-1]["note"])
        assert masked(theirs["updates"][-1]["note"])
        listed = (await notify_admin.get("/outages")).json()
        assert masked(listed["items"][0]["updates"][-1]["note"])

    async def test_messages_made_from_them(
        self,
        dispatcher,  # noqa: F811
        customers,  # noqa: F811
        notify_admin,
    ):
        oid = (await dispatcher.post("/outages", json=planned(10))).json()["id"]
        await dispatcher.post(f"/outages/{oid}/announce", json={})
        await dispatcher.post(f"/outages/{oid}/start", json={})
        await dispatcher.post(f"/outages/{oid}/progress", json={"note": TYPED})
        own = await dispatcher.get(f"/outages/{oid}/messages", params={"limit": 500})
        with_note = [m for m in own.json()["items"] if MOBILE in m["body"]]
        assert with_note, own.json()
        page = (await notify_admin.get("/messages", params={"limit": 500})).json()["items"]
        bodies = [m["body"] for m in page if m["kind"] == "outage.progress"]
        assert bodies
        assert all(masked(b) for b in bodies)
        one = (await notify_admin.get(f"/messages/{with_note[0]['id']}")).json()
        assert masked(one["body"])
        # The outage's and the subscriber's delivery logs mask them for administrators too.
        for path in (
            f"/outages/{oid}/messages",
            f"/subscribers/{with_note[0]['subscriber_id']}/messages",
        ):
            theirs = (await notify_admin.get(path, params={"limit": 500})).json()["items"]
            progress_bodies = [m["body"] for m in theirs if m["kind"] == "outage.progress"]
            assert progress_bodies, path
            assert all(masked(b) for b in progress_bodies), path
            mine = (await dispatcher.get(path, params={"limit": 500})).json()["items"]
            assert any(shows_whole(m["body"]) for m in mine), path
