// zproxy admin: select-all, cool-down countdowns, and "validate all" with progress.
// Everything works without this script; it only adds comfort.
(function () {
  "use strict";
  const csrf = document.querySelector("input[name=csrf]");
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll("#tokens-table input[name=ids]").forEach((box) => { box.checked = all.checked; });
    });
  }
  function tick() {
    const now = Date.now() / 1000;
    document.querySelectorAll(".countdown[data-until]").forEach((el) => {
      const left = Math.round(parseFloat(el.dataset.until) - now);
      el.textContent = left <= 0 ? "probe due" : left < 120 ? left + " s" : Math.round(left / 60) + " min";
    });
  }
  setInterval(tick, 1000);
  const button = document.getElementById("validate-all");
  if (button && csrf) {
    button.addEventListener("click", async () => {
      const ids = button.dataset.ids ? button.dataset.ids.split(",") : [];
      const bar = document.getElementById("validate-progress");
      const status = document.getElementById("validate-status");
      bar.hidden = false; bar.max = Math.max(ids.length, 1); bar.value = 0;
      button.disabled = true;
      let valid = 0;
      for (const id of ids) {
        const resp = await fetch("/admin/api/tokens/" + id + "/validate", {
          method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf.value } });
        const body = await resp.json().catch(() => ({}));
        if (body.status === "valid") valid += 1;
        bar.value += 1;
        status.textContent = bar.value + " / " + ids.length + " checked, " + valid + " valid";
      }
      window.zproxyAdmin.validated = bar.value;
      location.assign("/admin/tokens?notice=" + encodeURIComponent("Validated " + ids.length + " token(s): " + valid + " valid"));
    });
  }
  window.zproxyAdmin = { validated: 0 };
})();
