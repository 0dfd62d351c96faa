// The print button of the transaction confirmation.
const button = document.getElementById("print");
if (button) button.addEventListener("click", () => window.print());
