/* The sandbox's stand-in for WeChat's WeixinJSBridge, injected only in sandbox mode.
   getBrandWCPayRequest sends the signed parameters to the sandbox's "WeChat", which checks
   the paySign against the merchant key and completes the payment; the callback gets
   WeChat's err_msg (":ok", ":cancel" or ":fail"), as a phone's WeChat would give it. */
(function () {
  if (window.WeixinJSBridge) return;
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  window.WeixinJSBridge = {
    sandbox: true,
    invoke: function (name, params, callback) {
      if (name !== "getBrandWCPayRequest") { callback({err_msg: name + ":fail"}); return; }
      if (!window.confirm("微信支付（沙箱）：确认支付？")) {
        callback({err_msg: "get_brand_wcpay_request:cancel"});
        return;
      }
      fetch("/sandbox/wechat/pay", {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf()},
        body: JSON.stringify(params)
      }).then(function (r) {
        return r.json().then(function (data) {
          callback(r.ok ? data : {err_msg: "get_brand_wcpay_request:fail", error: data.error});
        });
      }).catch(function () { callback({err_msg: "get_brand_wcpay_request:fail"}); });
    },
    on: function () {}
  };
  document.dispatchEvent(new Event("WeixinJSBridgeReady"));
})();
