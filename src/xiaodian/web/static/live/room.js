/* xiaodian live room (viewer). Hand-written, no dependencies: EventSource for the room's
   events (snapshot first, then deltas; the browser reconnects by itself and every
   reconnection starts with a fresh snapshot), fetch for buying, comments, likes, clicks. */
(function () {
  "use strict";
  var root = document.getElementById("live-room");
  if (!root) return;
  var roomId = root.dataset.roomId;
  var api = "/api/v1/live/rooms/" + roomId;
  var T = JSON.parse(document.getElementById("live-i18n").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var sale = null;          // the running sale shown in the card
  var roomStatus = root.dataset.status;
  var pendingBuy = null;

  function text(el, value) { if (el) el.textContent = value == null ? "" : String(value); }
  function fen(v) {  // integer fen -> "¥1,234.50", as money.format_fen (no floats)
    return "¥" + Math.floor(v / 100).toLocaleString("en-US") + "." + String(v % 100).padStart(2, "0");
  }
  function json(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { status: r.status, data: data };
      });
    });
  }

  /* ---------------------------------------------------------------- video */
  var hlsLoading = null;
  function play(url) {
    var video = $("live-video"), cover = $("live-cover");
    if (!url) { video.hidden = true; cover.hidden = false; video.removeAttribute("src"); return; }
    video.hidden = false; cover.hidden = true;
    if (video.dataset.playing === url) return;
    video.dataset.playing = url;
    if (video.canPlayType("application/vnd.apple.mpegurl")) { video.src = url; video.play().catch(function () {}); return; }
    hlsLoading = hlsLoading || new Promise(function (ok, fail) {
      var s = document.createElement("script");
      s.src = "/static/live/hls.min.js"; s.onload = ok; s.onerror = fail;
      document.head.appendChild(s);
    });
    hlsLoading.then(function () {
      if (!window.Hls || !window.Hls.isSupported()) { video.src = url; return; }
      var hls = new window.Hls({ lowLatencyMode: true });
      hls.loadSource(url); hls.attachMedia(video);
      video.play().catch(function () {});
    }).catch(function () { video.hidden = true; cover.hidden = false; });
  }

  // A room still on air whose stream ends (a recorded clip, as the demo's) plays it again.
  $("live-video").addEventListener("ended", function () {
    var video = $("live-video");
    if (roomStatus !== "live" || !video.dataset.playing) return;
    video.currentTime = 0; video.play().catch(function () {});
  });

  /* ---------------------------------------------------------------- drawing */
  function drawRoom(room) {
    if (room.status !== roomStatus) loadCoupons(room.status);
    roomStatus = room.status;
    root.dataset.status = room.status;
    var badge = $("room-status");
    badge.className = "badge live-status " + room.status;
    text(badge, T[room.status] || room.status);
    play(room.status === "live" ? room.stream_url : null);
    var upcoming = $("live-upcoming");
    if (upcoming) upcoming.hidden = room.status !== "scheduled";
    $("replay-box").hidden = room.status !== "ended";
    var replay = $("replay-link");
    if (room.replay_url) { replay.href = room.replay_url; replay.hidden = false; } else { replay.hidden = true; }
    if (room.likes != null) text($("like-count"), room.likes);
    if (room.status !== "live") drawSale(null);
  }

  function drawPinned(p) {
    var box = $("pinned-product");
    if (!p) { box.hidden = true; box.innerHTML = ""; return; }
    box.hidden = false;
    box.innerHTML = "";
    var a = document.createElement("a");
    a.href = p.url; a.className = "live-card-link"; a.dataset.productId = p.id;
    var img = document.createElement("img"); img.src = p.thumb || "/static/placeholder.svg"; img.alt = "";
    var span = document.createElement("span");
    var badge = document.createElement("span"); badge.className = "badge warn"; badge.textContent = T.presenting;
    var title = document.createElement("span"); title.className = "pin-title"; title.textContent = " " + p.title + " ";
    var price = document.createElement("b"); price.className = "price"; price.textContent = fen(p.price_fen);
    span.appendChild(badge); span.appendChild(title); span.appendChild(price);
    var buy = document.createElement("span"); buy.className = "btn primary small pin-buy";
    buy.dataset.testid = "pin-buy"; buy.textContent = T.buy_pinned;
    a.appendChild(img); a.appendChild(span); a.appendChild(buy); box.appendChild(a);
  }

  function drawSale(s) {
    var card = $("flash-card");
    if (!s || s.status !== "running") {
      if (s && sale && s.id === sale.id) { sale = null; }
      if (!sale) { card.hidden = true; }
      return;
    }
    sale = s;
    card.hidden = false;
    card.dataset.saleId = s.id;
    $("flash-form").action = "/live/" + roomId + "/sales/" + s.id + "/buy";
    text($("flash-title"), s.title);
    text($("flash-price"), fen(s.price_fen));
    text($("flash-regular"), fen(s.regular_price_fen));
    setRemaining(s.remaining);
    tick();
  }

  function setRemaining(n) {
    if (!sale) return;
    if (n != null && (sale.remaining == null || n < sale.remaining || n > sale.remaining)) sale.remaining = n;
    text($("flash-remaining"), sale.remaining);
    var btn = $("flash-buy");
    if (sale.remaining <= 0) { btn.disabled = true; text(btn, T.sold_out); }
    else if (!pendingBuy) { btn.disabled = false; text(btn, T.buy); }
  }

  function tick() {
    if (!sale || !sale.ends_at) { text($("flash-countdown"), ""); return; }
    var left = Math.max(0, Math.round((Date.parse(sale.ends_at) - Date.now()) / 1000));
    if (left <= 0) { text($("flash-countdown"), T.over); $("flash-buy").disabled = true; return; }
    var m = Math.floor(left / 60), s = left % 60;
    text($("flash-countdown"), T.ends_in + " " + m + ":" + (s < 10 ? "0" : "") + s);
  }
  setInterval(tick, 1000);

  function addComment(c) {
    var list = $("comments");
    var li = document.createElement("li");
    var b = document.createElement("b"); b.textContent = c.author + " ";
    li.appendChild(b); li.appendChild(document.createTextNode(c.body));
    list.appendChild(li);
    while (list.children.length > 50) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function notice(msg) {
    var list = $("notices");
    var li = document.createElement("li"); li.textContent = msg;
    list.appendChild(li);
    while (list.children.length > 3) list.removeChild(list.firstChild);
    setTimeout(function () { if (li.parentNode) li.parentNode.removeChild(li); }, 4000);
  }

  /* ---------------------------------------------------------------- events */
  function on(type, fn) {
    es.addEventListener(type, function (e) {
      var data; try { data = JSON.parse(e.data); } catch (err) { return; }
      fn(data);
    });
  }
  var es = new EventSource("/live/" + roomId + "/events");
  on("snapshot", function (d) {
    drawRoom(d.room);
    drawPinned(d.pinned);
    var running = (d.sales || []).filter(function (s) { return s.status === "running"; });
    sale = null;
    drawSale(running.length ? running[running.length - 1] : null);
    var list = $("comments"); list.innerHTML = "";
    (d.comments || []).forEach(addComment);
    text($("viewer-count"), d.viewers || 0);
  });
  on("room", function (d) { drawRoom(d.room); });
  on("pin", function (d) { drawPinned(d.product); });
  on("sale", function (d) {
    if (d.sale.status === "running") { if (!sale || sale.id !== d.sale.id) sale = null; drawSale(d.sale); }
    else if (sale && sale.id === d.sale.id) { sale = null; drawSale(null); }
  });
  on("sale_progress", function (d) {
    if (sale && sale.id === d.sale_id) { setRemaining(d.remaining); }
    (d.buyers || []).forEach(function (name) { notice(name + " " + T.just_bought); });
  });
  on("comment", addComment);
  on("announcement", function (d) {
    var el = $("announcement"); el.textContent = d.text; el.hidden = false;
    setTimeout(function () { el.hidden = true; }, 15000);
  });
  on("likes", function (d) { text($("like-count"), d.total); });
  on("viewers", function (d) { text($("viewer-count"), d.count); });

  /* ---------------------------------------------------------------- buying */
  function buy(addressId) {
    if (!sale) return;
    if (root.dataset.signedIn !== "1") { location.href = root.dataset.loginUrl; return; }
    var btn = $("flash-buy"); btn.disabled = true; text(btn, T.buying);
    pendingBuy = sale.id;
    var body = { quantity: 1 };
    if (addressId) body.address_id = addressId;
    json("POST", api + "/flash-sales/" + sale.id + "/buy", body).then(function (r) {
      pendingBuy = null;
      if (r.status === 201) { location.href = r.data.pay_url; return; }
      var err = (r.data && r.data.error) || {};
      if (err.code === "address_required") { $("address-form").hidden = false; text(btn, T.buy); return; }
      if (r.status === 401) { location.href = root.dataset.loginUrl; return; }
      if (err.code === "sold_out") { setRemaining(0); }
      text($("flash-message"), err.message || T.error);
      setRemaining(null);
      if (sale && sale.remaining > 0) { btn.disabled = false; text(btn, T.buy); }
    }).catch(function () { pendingBuy = null; btn.disabled = false; text(btn, T.buy); text($("flash-message"), T.error); });
  }
  $("flash-form").addEventListener("submit", function (e) { e.preventDefault(); buy(null); });

  $("address-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var f = e.target, data = {};
    ["name", "phone", "province", "city", "district", "detail"].forEach(function (k) { data[k] = f.elements[k].value.trim(); });
    data.is_default = true;
    json("POST", "/api/v1/addresses", data).then(function (r) {
      if (r.status === 201) { f.hidden = true; buy(r.data.id); return; }
      var el = $("address-error"); el.hidden = false;
      text(el, (r.data && r.data.error && r.data.error.message) || T.error);
    });
  });

  /* ---------------------------------------------------------------- comments, likes */
  $("comment-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = $("comment-input"), body = input.value.trim();
    if (!body) return;
    json("POST", api + "/comments", { body: body }).then(function (r) {
      if (r.status === 201) { input.value = ""; }
      else { notice((r.data && r.data.error && r.data.error.message) || T.error); }
    });
  });

  var taps = 0;
  $("like-btn").addEventListener("click", function () {
    taps += 1;
    var el = $("like-count"); text(el, (parseInt(el.textContent, 10) || 0) + 1);
  });
  setInterval(function () {
    if (!taps) return;
    var n = Math.min(taps, 50); taps -= n;
    json("POST", api + "/likes", { count: n });
  }, 2000);

  /* ---------------------------------------------------------------- products */
  function beacon(productId) {
    try {
      fetch(api + "/clicks", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ product_id: Number(productId) })
      });
    } catch (e) { /* a lost beacon is fine */ }
  }
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.live-card-link");
    if (a && a.dataset.productId) beacon(a.dataset.productId);
  });
  $("cart-btn").addEventListener("click", function () { $("product-sheet").hidden = false; });
  $("sheet-close").addEventListener("click", function () { $("product-sheet").hidden = true; });

  /* ---------------------------------------------------------------- the room's coupons */
  function offerText(c) {
    if (c.kind === "percent") return T.coupon_percent.replace("%(n)s", c.rate_percent);
    var off = T.coupon_off.replace("%(off)s", fen(c.off_fen));
    return c.min_spend_fen ? T.coupon_from.replace("%(min)s", fen(c.min_spend_fen)) + " " + off : off;
  }
  function loadCoupons(status) {
    var box = $("room-coupons");
    if (!box) return;
    if (status !== "live") { box.hidden = true; return; }
    json("GET", api + "/coupons").then(function (r) {
      var list = (r.status === 200 && r.data) || [];
      box.textContent = "";
      list.forEach(function (c) {
        var item = document.createElement("div");
        item.className = "live-coupon";
        item.dataset.couponId = c.id;
        var label = document.createElement("span");
        label.innerHTML = "<b></b> <span class=\"small\"></span>";
        label.firstChild.textContent = c.name;
        label.lastChild.textContent = offerText(c);
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn small primary";
        button.textContent = T.claim;
        button.addEventListener("click", function () { claim(c.id, button); });
        item.appendChild(label);
        item.appendChild(button);
        box.appendChild(item);
      });
      box.hidden = list.length === 0;
    }).catch(function () {});
  }
  function claim(id, button) {
    if (root.dataset.signedIn !== "1") { location.href = root.dataset.loginUrl; return; }
    button.disabled = true;
    json("POST", "/api/v1/coupons/" + id + "/claim").then(function (r) {
      if (r.status === 401) { location.href = root.dataset.loginUrl; return; }
      if (r.status === 201) { text(button, T.claimed); return; }
      button.disabled = false;
      notice((r.data && r.data.error && r.data.error.message) || T.error);
    }).catch(function () { button.disabled = false; notice(T.error); });
  }

  loadCoupons(roomStatus);
  play($("live-video").dataset.src || null);
})();
