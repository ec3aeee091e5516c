/* Inside WeChat: ask for the page's signed JS-SDK configuration, then set the card that a
   share to a chat (updateAppMessageShareData) or to Moments (updateTimelineShareData) shows. */
(function () {
  var card = document.getElementById("wechat-share");
  if (!card || !window.wx) return;
  var page = location.href.split("#")[0];
  var absolute = function (path) { return new URL(path, location.origin).href; };
  fetch("/api/v1/wechat/jssdk-config?url=" + encodeURIComponent(page), {credentials: "same-origin"})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (config) {
      if (!config) return;
      wx.config({debug: false, appId: config.appId, timestamp: config.timestamp,
                 nonceStr: config.nonceStr, signature: config.signature, jsApiList: config.jsApiList});
      wx.ready(function () {
        var data = {title: card.dataset.title, desc: card.dataset.desc, link: page,
                    imgUrl: absolute(card.dataset.image)};
        wx.updateAppMessageShareData(data);
        wx.updateTimelineShareData({title: data.title, link: data.link, imgUrl: data.imgUrl});
      });
    })
    .catch(function () {});
})();
