/* Arena: voting without full page loads, and keyboard shortcuts. Everything also works without it. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");
  var main = document.getElementById("main");
  if (!main || !window.fetch || !window.DOMParser) return;
  var pollTimer = null;

  function swap(html, url, push, keepScroll) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var next = page.getElementById("main");
    if (!next) { window.location.href = url; return; }
    main.innerHTML = next.innerHTML;
    document.title = page.title;
    if (push) history.pushState({ arena: true }, "", url);
    // A battle's reveal keeps the battle's layout: the reader stays where they were.
    if (!keepScroll) window.scrollTo(0, 0);
    enhance();
    var focus = main.querySelector("[data-arena-focus]") || main.querySelector("h1[tabindex]") ||
      main.querySelector(".verdict") || main.querySelector("h1");
    if (focus) focus.focus({ preventScroll: true });
  }

  function load(url, options, push, keepScroll) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    return fetch(url, options).then(function (response) {
      return response.text().then(function (html) {
        return { response: response, html: html };
      });
    }).then(function (result) {
      var status = result.response.status;
      var notice = main.querySelector("[data-arena-vote] [data-arena-notice]");
      if (notice && (status === 409 || status === 429)) {
        // Too early, or too many votes: say so next to the buttons and keep the battle on screen.
        var page = new DOMParser().parseFromString(result.html, "text/html");
        var message = page.querySelector("[data-arena-notice]") || page.querySelector("#main p");
        if (message && (status === 429 || page.querySelector("[data-arena-vote]"))) {
          notice.textContent = message.textContent;
          setBusy(false);
          return;
        }
      }
      swap(result.html, result.response.url || url, push, keepScroll);
    }).catch(function () {
      window.location.href = url;
    });
  }

  function setBusy(busy) {
    main.querySelectorAll("[data-arena-vote] button").forEach(function (button) { button.disabled = busy; });
  }

  function enhance() {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    var form = main.querySelector("[data-arena-vote]");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var data = new FormData(form);
        var chosen = event.submitter || form.querySelector("button:focus");
        if (chosen) {
          data.set(chosen.name, chosen.value);
          // The verdict chosen is shown (and told to screen readers) while it is being saved.
          chosen.setAttribute("aria-pressed", "true");
        }
        setBusy(true);
        load(form.action, { method: "POST", body: data }, true, true);
      });
    }
    var reason = main.querySelector("[data-arena-reason]");
    if (reason) {
      reason.addEventListener("submit", function (event) {
        event.preventDefault();
        fetch(reason.action, { method: "POST", body: new FormData(reason), credentials: "same-origin" })
          .then(function (response) { return response.text(); })
          .then(function (html) {
            var page = new DOMParser().parseFromString(html, "text/html");
            var saved = page.querySelector("[data-arena-reason] [data-arena-notice]");
            reason.querySelector("[data-arena-notice]").textContent = saved ? saved.textContent : "";
          });
      });
    }
    var next = main.querySelector("[data-arena-next]");
    if (next) {
      next.addEventListener("click", function (event) {
        event.preventDefault();
        load(next.href, {}, true);
      });
    }
    // Browse mode: choosing a category, a model or a side shows it at once.
    main.querySelectorAll("form[data-arena-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    if (main.querySelector("[data-arena-waiting]")) {
      pollTimer = setTimeout(function () { load(window.location.href, {}, false); }, 2000);
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable)) return;
    var shortcut = main.querySelector('[aria-keyshortcuts="' + event.key.toLowerCase() + '"]');
    if (shortcut && !shortcut.disabled) {
      event.preventDefault();
      shortcut.click();
    }
  });

  window.addEventListener("popstate", function () { load(window.location.href, {}, false); });
  enhance();
})();
