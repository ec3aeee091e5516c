from tests.content.conftest import *  # noqa
from tests.content.test_videos_http import _upload, _rows, mp4_bytes
import time, sqlite3
def probe(settings):
    c = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=0.5, isolation_level=None)
    try:
        c.execute("BEGIN IMMEDIATE"); c.execute("ROLLBACK"); return "free"
    except Exception as e: return str(e)
    finally: c.close()
def test_dbg(scene, api_client, client, settings, db):
    print("P0", probe(settings))
    r = _upload(api_client(scene.buyer), mp4_bytes())
    print("A", r.status_code, probe(settings))
    r = _upload(api_client(scene.merchant), mp4_bytes(), shop_id=str(scene.shop.id), product_ids=str(scene.other_product.id))
    print("B", r.status_code, probe(settings))
    import gc; gc.collect()
    print("C", probe(settings))
def test_dbg2(scene, api_client, client, settings, db):
    print("P0", probe(settings))
    print(_rows(db))
    print("D", probe(settings))
    t = api_client(scene.staff)
    print("E", probe(settings))
def test_dbg3(scene, api_client, client, settings, db):
    client.get("/videos")
    print("F", probe(settings))
    anonymous = _upload(client, mp4_bytes(), csrf_token=client.cookies.get("xd_csrf"))
    print("G", anonymous.status_code, probe(settings))
def test_dbg4(scene, api_client, client, settings, db):
    client.get("/videos")
    anonymous = _upload(client, mp4_bytes(), csrf_token=client.cookies.get("xd_csrf"))
    print("1", probe(settings))
    assert _upload(api_client(scene.buyer), mp4_bytes()).status_code == 403
    print("2", probe(settings))
    r = _upload(api_client(scene.other_merchant), mp4_bytes(), shop_id=str(scene.shop.id))
    print("3", r.status_code, probe(settings))
def test_dbg5(scene, api_client, client, settings, db):
    r = _upload(api_client(scene.merchant), mp4_bytes(), shop_id=str(scene.shop.id), product_ids=str(scene.other_product.id))
    print("1", r.status_code, probe(settings))
    print(_rows(db))
    print("2", probe(settings))
    c = api_client(scene.staff)
    print("3", probe(settings))
    r = _upload(c, mp4_bytes(), shop_id=str(scene.shop.id), product_ids=str(scene.products[0].id))
    print("4", r.status_code, r.text[:200], probe(settings))
