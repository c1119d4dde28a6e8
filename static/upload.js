// Kakeibo Export: the restore upload form. Show the chosen file's name and size, refuse a
// file that is not a zip (or too large) before it is sent, and send its name along (S3
// keeps it as the upload's metadata, so the next page can name the file again).
// Without JavaScript the browser shows the name itself and the server checks the file.
(function () {
  "use strict";

  var UNITS = ["KB", "MB", "GB", "TB"];

  function size(bytes, lang) {
    var number = function (value, digits) {
      return new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(value);
    };
    if (bytes < 1024) {
      return number(bytes, 0) + (lang === "ja" ? " バイト" : " bytes");
    }
    var value = bytes;
    for (var i = 0; i < UNITS.length; i += 1) {
      value /= 1024;
      if (value < 1024 || i === UNITS.length - 1) {
        return number(value, value < 10 ? 1 : 0) + " " + UNITS[i];
      }
    }
    return String(bytes);
  }

  function start() {
    var input = document.getElementById("file");
    var shown = document.getElementById("file-chosen");
    if (!input || !shown) {
      return;
    }
    var form = input.form;
    var named = form.querySelector('input[name="x-amz-meta-filename"]');
    var submit = form.querySelector('button[type="submit"]');
    var lang = document.documentElement.lang || "en";

    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      input.removeAttribute("aria-invalid");
      shown.classList.remove("field__error");
      if (!file) {
        shown.textContent = "";
        return;
      }
      var problem = null;
      if (!/\.zip$/i.test(file.name)) {
        problem = input.getAttribute("data-not-zip");
      } else if (file.size > Number(input.getAttribute("data-max-bytes"))) {
        problem = input.getAttribute("data-too-large");
      }
      shown.textContent = file.name + " (" + size(file.size, lang) + ")" + (problem ? " — " + problem : "");
      if (problem) {
        input.setAttribute("aria-invalid", "true");
        shown.classList.add("field__error");
      }
      if (submit) {
        submit.disabled = Boolean(problem);
      }
      if (named) {
        named.value = encodeURIComponent(file.name);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
