/* The sandbox's stand-in for WeChat's JS-SDK (jweixin), loaded only in sandbox mode: it
   keeps what the page configured and the cards it set in window.wechatSandboxShare, where
   the demo and the browser tests can see what a share would show. */
(function () {
  if (window.wx) return;
  var seen = window.wechatSandboxShare = {config: null, appMessage: null, timeline: null};
  var callbacks = [];
  window.wx = {
    config: function (config) {
      seen.config = config;
      setTimeout(function () { callbacks.forEach(function (fn) { fn(); }); callbacks = null; }, 0);
    },
    ready: function (fn) { if (callbacks) callbacks.push(fn); else fn(); },
    error: function () {},
    updateAppMessageShareData: function (data) { seen.appMessage = data; if (data.success) data.success(); },
    updateTimelineShareData: function (data) { seen.timeline = data; if (data.success) data.success(); }
  };
})();
