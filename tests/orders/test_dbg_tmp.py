from tests.orders.test_query_counts import _place, make_product
def test_dbg(db, scene, login_client, count_queries):
    other_sku = make_product(db, scene.shop, skus=[("大", 500, 100)]).skus[0].id
    buyer = login_client(scene.buyer)
    for n in (2, 10):
        _place(db, scene, n, other_sku)
        buyer.get("/orders?tab=to_ship")
        with count_queries() as counter:
            buyer.get("/orders?tab=to_ship")
        print("\n----", n)
        for s in counter.statements: print(s[:150].replace("\n"," "))
