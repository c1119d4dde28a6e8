// Kakeibo Export: keep the rows of exports in progress up to date without a reload.
// Without JavaScript the page refreshes itself (a <noscript> meta refresh) instead.
(function () {
  "use strict";

  var INTERVAL = 1500;

  function announce(row, text) {
    var status = row.querySelector(".job__text");
    if (status && status.textContent !== text) {
      status.textContent = text;
    }
  }

  function finish(row, data) {
    if (row.hasAttribute("data-reload-when-done")) {
      // A restore's page (or a restore's row) shows its results server-rendered. The
      // restore page comes back at #outcome, where focus then goes (see start).
      if (row.getAttribute("data-reload-when-done") === "outcome") {
        window.history.replaceState(null, "", window.location.pathname + window.location.search + "#outcome");
      }
      window.location.reload();
      return;
    }
    if (data.row) {
      // How it went, in the words the page shows after a reload (the Shift_JIS count too),
      // and the "export started" message has served its turn.
      var outcome = document.getElementById("job-outcome");
      if (outcome) {
        outcome.textContent = data.text;
      }
      Array.prototype.forEach.call(document.querySelectorAll(".flash--started"), function (flash) {
        var flashes = flash.parentNode;
        flash.remove();
        if (flashes && !flashes.children.length) {
          flashes.remove();
        }
      });
      // The server renders the archive's row (same template as the page): swap it in.
      var holder = document.createElement("tbody");
      holder.innerHTML = data.row.trim();
      var archive = holder.firstElementChild;
      row.parentNode.replaceChild(archive, row);
      archive.scrollIntoView({ block: "nearest", behavior: "smooth" });
      var link = archive.querySelector("a.button");
      if (link) {
        link.focus({ preventScroll: true });
      }
      return;
    }
    row.classList.remove("job--queued", "job--running");
    row.classList.add("job--" + data.state);
    announce(row, data.text);
    var spinner = row.querySelector(".spinner");
    if (spinner) {
      spinner.remove();
    }
    var cancel = row.querySelector(".job__cancel");
    if (cancel) {
      cancel.remove();
    }
  }

  function poll(row) {
    var url = row.getAttribute("data-status-url");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.unfinished) {
          row.classList.remove("job--queued", "job--running");
          row.classList.add("job--" + data.state);
          announce(row, data.text);
          window.setTimeout(function () { poll(row); }, INTERVAL);
        } else {
          finish(row, data);
        }
      })
      .catch(function () {
        // Signed out or offline: try again a little later, the page still works.
        window.setTimeout(function () { poll(row); }, INTERVAL * 4);
      });
  }

  // A form marked data-once is sent once: a second click while the first is on its way
  // would only be refused by the server (each check is confirmed once).
  function once(form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sent", "true");
      window.setTimeout(function () {
        Array.prototype.forEach.call(form.querySelectorAll('button[type="submit"]'), function (button) {
          button.disabled = true;
        });
      }, 0);
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), once);
    if (window.location.hash === "#outcome") {
      var outcome = document.querySelector("[data-outcome]");
      if (outcome) {
        outcome.focus();
      }
    }
    var rows = document.querySelectorAll("[data-status-url]");
    Array.prototype.forEach.call(rows, function (row) {
      window.setTimeout(function () { poll(row); }, INTERVAL);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
