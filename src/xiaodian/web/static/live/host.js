/* xiaodian live host console: live comments, viewers, remaining units and figures. */
(function () {
  "use strict";
  var root = document.getElementById("host-console");
  if (!root) return;
  var roomId = root.dataset.roomId;
  var $ = function (id) { return document.getElementById(id); };
  function fen(v) {  // integer fen -> "¥1,234.50", as money.format_fen (no floats)
    return "¥" + Math.floor(v / 100).toLocaleString("en-US") + "." + String(v % 100).padStart(2, "0");
  }

  var sku = $("sale-sku"), product = $("sale-product");
  if (sku && product) {
    var sync = function () { var o = sku.options[sku.selectedIndex]; if (o) product.value = o.dataset.productId; };
    sku.addEventListener("change", sync); sync();
  }

  function addComment(c) {
    var list = $("comments"), li = document.createElement("li");
    var b = document.createElement("b"); b.textContent = c.author + " ";
    li.appendChild(b); li.appendChild(document.createTextNode(c.body));
    list.appendChild(li);
    while (list.children.length > 200) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }
  function remaining(saleId, n) {
    var row = document.querySelector('#host-sales tr[data-sale-id="' + saleId + '"] .sale-remaining');
    if (row && n != null) row.textContent = n;
  }
  var es = new EventSource("/live/" + roomId + "/events");
  function on(type, fn) { es.addEventListener(type, function (e) { try { fn(JSON.parse(e.data)); } catch (err) { /* ignore */ } }); }
  on("snapshot", function (d) {
    $("host-viewers").textContent = d.viewers || 0;
    var list = $("comments"); list.innerHTML = ""; (d.comments || []).forEach(addComment);
    (d.sales || []).forEach(function (s) { remaining(s.id, s.remaining); });
  });
  on("comment", addComment);
  on("viewers", function (d) { $("host-viewers").textContent = d.count; });
  on("likes", function (d) { $("host-likes").textContent = d.total; });
  on("sale", function (d) { remaining(d.sale.id, d.sale.remaining); });
  on("sale_progress", function (d) { remaining(d.sale_id, d.remaining); });

  function figures() {
    fetch("/api/v1/live/rooms/" + roomId + "/report", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (!d) return; $("host-orders").textContent = d.orders; $("host-gmv").textContent = fen(d.gmv_fen); })
      .catch(function () {});
  }
  figures(); setInterval(figures, 5000);
})();
