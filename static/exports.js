// Kakeibo Export: the export form. After a quick range, focus is at the form. The
// CSV encoding is only for CSV: while the chosen format holds no CSV, the encoding's
// fieldset is disabled (so it is skipped and announced as unavailable); without
// JavaScript the stylesheet dims it the same way and the server ignores an encoding
// sent without CSV.
(function () {
  "use strict";

  var WITH_CSV = { both: true, csv: true, all: true };

  function update(form) {
    var encoding = form.querySelector(".choices--encoding");
    var chosen = form.querySelector('input[name="formats"]:checked');
    if (encoding && chosen) {
      encoding.disabled = !WITH_CSV[chosen.value];
    }
  }

  function start() {
    // A quick range comes back at the form (#new-export). The fragment only scrolls
    // there (and moves where Tab starts from); focus it, so a screen reader says so too.
    if (window.location.hash === "#new-export") {
      var heading = document.getElementById("new-export");
      if (heading) {
        heading.focus();
      }
    }
    var form = document.querySelector(".export__form");
    if (!form) {
      return;
    }
    update(form);
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name === "formats") {
        update(form);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
