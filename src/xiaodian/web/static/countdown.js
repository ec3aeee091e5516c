// Countdowns to a deal's end: every element with data-until (an ISO time) shows the time
// left with its data-text ("Ends in %(left)s") and data-days ("%(n)sd"); at zero the page
// reloads, so the price shown is the one that holds.
(() => {
  const pad = (n) => String(n).padStart(2, "0");
  document.querySelectorAll(".countdown[data-until]").forEach((el) => {
    const end = Date.parse(el.dataset.until);
    if (Number.isNaN(end)) return;
    let timer = 0;
    const tick = () => {
      const left = Math.max(0, Math.floor((end - Date.now()) / 1000));
      const days = Math.floor(left / 86400), rest = left % 86400;
      const clock = pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor((rest % 3600) / 60)) + ":" + pad(rest % 60);
      const text = (days ? el.dataset.days.replace("%(n)s", days) + " " : "") + clock;
      el.textContent = el.dataset.text.replace("%(left)s", text);
      if (left === 0) { clearInterval(timer); location.reload(); }
    };
    timer = setInterval(tick, 1000);
    tick();
  });
})();
