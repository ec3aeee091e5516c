/* Inside WeChat: ask for the page's signed JS-SDK configuration, then set the card that a
   share to a chat (updateAppMessageShareData) or to Moments (updateTimelineShareData) shows.
   On a product's page a signed-in sharer's card links to their own tracked link (made on
   first share, the same one after), so the friend's purchase is credited to them; without it
   (signed out, or the link cannot be made) the card links to the page itself. */
(function () {
  var card = document.getElementById("wechat-share");
  if (!card || !window.wx) return;
  var page = location.href.split("#")[0];
  var absolute = function (path) { return new URL(path, location.origin).href; };
  var csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };
  var sharedLink = function () {
    var product = parseInt(card.dataset.product || "", 10);
    if (!product) return Promise.resolve(page);
    return fetch("/api/v1/affiliates/links", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf()},
      body: JSON.stringify({product_id: product, kind: "product"})
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (link) { return link && link.url ? absolute(link.url) : page; })
      .catch(function () { return page; });
  };
  var config = fetch("/api/v1/wechat/jssdk-config?url=" + encodeURIComponent(page), {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.json() : null; });
  Promise.all([config, sharedLink()])
    .then(function (both) {
      var signed = both[0], link = both[1];
      if (!signed) return;
      wx.config({debug: false, appId: signed.appId, timestamp: signed.timestamp,
                 nonceStr: signed.nonceStr, signature: signed.signature, jsApiList: signed.jsApiList});
      wx.ready(function () {
        var data = {title: card.dataset.title, desc: card.dataset.desc, link: link,
                    imgUrl: absolute(card.dataset.image)};
        wx.updateAppMessageShareData(data);
        wx.updateTimelineShareData({title: data.title, link: data.link, imgUrl: data.imgUrl});
      });
    })
    .catch(function () {});
})();
