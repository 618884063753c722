/* AgentCom task form: a declared capability, clicked, joins the comma-separated list. */
(function () {
  "use strict";
  const input = document.getElementById("id_capabilities");
  document.addEventListener("click", (event) => {
    const chip = event.target.closest("[data-capability]");
    if (!chip || !input) return;
    const names = input.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (!names.includes(chip.dataset.capability)) names.push(chip.dataset.capability);
    input.value = names.join(", ");
    input.focus();
  });
})();
