/* Arena: voting without full page loads, keyboard shortcuts, and the votes' proof of work when the arena
   asks for one. Everything also works without it, except voting with the proof of work on. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");
  var main = document.getElementById("main");
  if (!main || !window.fetch || !window.DOMParser) return;
  var pollTimer = null;
  var proof = null;  // the search for the shown battle's proof of work, if one is asked for

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

  /* Proof of work (ARENA_VOTE_POW_BITS, battles/services/proof_of_work.py): with it on, the vote form
     carries a challenge, and a vote must send a counter such that SHA-256 of "challenge:counter"
     starts with that many zero bits. It is searched for while the voter reads. The SHA-256 is our
     own: crypto.subtle exists only on secure origins (HTTPS, localhost), and an arena may be served
     over plain HTTP on a local network. */

  // SHA-256's round constants (FIPS 180-4): the first 32 bits of the fractional parts of the cube
  // roots of the first 64 primes.
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  // The initial hash: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
  var INITIAL = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  ]);
  var schedule = new Int32Array(64);  // the message schedule, reused by every block
  var hash = new Int32Array(8);  // the hash being computed, as eight 32-bit words

  // A text as SHA-256 reads it: its bytes (ASCII: the challenge is hexadecimal, the counter digits),
  // the byte 0x80, zeros, then its length in bits (64 bits, big-endian), filling whole 64-byte blocks.
  function padded(text) {
    var length = text.length, message = new Uint8Array((((length + 8) >> 6) + 1) * 64);
    for (var i = 0; i < length; i++) message[i] = text.charCodeAt(i);
    message[length] = 0x80;
    var view = new DataView(message.buffer);
    view.setUint32(message.length - 8, Math.floor(length / 0x20000000));
    view.setUint32(message.length - 4, (length * 8) >>> 0);
    return message;
  }

  // The SHA-256 of a padded message, into `hash`.
  function sha256(message) {
    hash.set(INITIAL);
    for (var offset = 0; offset < message.length; offset += 64) compress(message, offset);
  }

  // One block of 64 bytes into `hash` (FIPS 180-4, 6.2.2).
  function compress(message, offset) {
    var i, at;
    for (i = 0; i < 16; i++) {
      at = offset + i * 4;
      schedule[i] = message[at] << 24 | message[at + 1] << 16 | message[at + 2] << 8 | message[at + 3];
    }
    for (i = 16; i < 64; i++) {
      var x = schedule[i - 15], y = schedule[i - 2];
      var s0 = (x >>> 7 | x << 25) ^ (x >>> 18 | x << 14) ^ (x >>> 3);
      var s1 = (y >>> 17 | y << 15) ^ (y >>> 19 | y << 13) ^ (y >>> 10);
      schedule[i] = (schedule[i - 16] + s0 + schedule[i - 7] + s1) | 0;
    }
    var a = hash[0], b = hash[1], c = hash[2], d = hash[3], e = hash[4], f = hash[5], g = hash[6], h = hash[7];
    for (i = 0; i < 64; i++) {
      var t1 = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) +
        ((e & f) ^ (~e & g)) + K[i] + schedule[i]) | 0;
      var t2 = (((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) +
        ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    hash[0] += a; hash[1] += b; hash[2] += c; hash[3] += d;
    hash[4] += e; hash[5] += f; hash[6] += g; hash[7] += h;
  }

  function leadingZeroBits() {
    for (var count = 0, i = 0; i < 8; i++) {
      count += Math.clz32(hash[i]);
      if (hash[i] !== 0) break;
    }
    return count;
  }

  // Search counters 0, 1, 2… for one that solves the challenge, in slices of about 15 ms so that
  // the page stays responsive; the job's `solution` is set when found, and `onSolved` called with it.
  // The message is padded anew only when the counter gains a digit; in between, only its digits
  // change.
  function solve(challenge, bits) {
    var job = { cancelled: false, solution: null, onSolved: null };
    var start = challenge.length + 1, counter = 0, message = null, shown = 0;  // digits in `message`
    function slice() {
      if (job.cancelled) return;
      var until = Date.now() + 15;
      do {
        for (var n = 0; n < 1024; n++, counter++) {
          var digits = String(counter);
          if (digits.length !== shown) {
            message = padded(challenge + ":" + digits);
            shown = digits.length;
          } else {
            for (var d = 0; d < digits.length; d++) message[start + d] = digits.charCodeAt(d);
          }
          sha256(message);
          if (leadingZeroBits() >= bits) {
            job.solution = digits;
            if (job.onSolved) job.onSolved(digits);
            return;
          }
        }
      } while (Date.now() < until);
      setTimeout(slice, 0);
    }
    setTimeout(slice, 0);
    return job;
  }

  function setBusy(busy) {
    main.querySelectorAll("[data-arena-vote] button").forEach(function (button) { button.disabled = busy; });
  }

  function enhance() {
    if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
    // A battle brought in without a page load comes with its own challenge: the last one is dropped.
    if (proof) { proof.cancelled = true; proof = null; }
    var form = main.querySelector("[data-arena-vote]");
    if (form) {
      var challenge = form.getAttribute("data-arena-pow");
      proof = challenge ? solve(challenge, parseInt(form.getAttribute("data-arena-pow-bits"), 10)) : null;
      var job = proof;
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
        function send() {
          if (job) data.set("pow", job.solution);
          load(form.action, { method: "POST", body: data }, true, true);
        }
        if (!job || job.solution !== null) { send(); return; }
        // Chosen before the check is done (a quick voter, a slow phone): say so, and vote once it is.
        var notice = form.querySelector("[data-arena-notice]");
        notice.textContent = form.getAttribute("data-arena-pow-checking");
        job.onSolved = function () { notice.textContent = ""; send(); };
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
