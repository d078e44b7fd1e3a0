// The worklist page: series on demand, processing states by polling, deletion with
// confirmation, and uploads (one XHR per file, with progress). Plain JS, no build step;
// the page works without it for searching, sorting, paging and opening studies.
"use strict";

(() => {
  const body = document.body;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const results = document.getElementById("results");
  let knownStudies = new Set();

  // ---- Filters: the custom range shows only when chosen --------------------------------
  const filters = document.getElementById("filters");
  const preset = document.getElementById("date-preset");
  const syncRange = () => filters.classList.toggle("custom-date", preset.value === "custom");
  preset.addEventListener("change", syncRange);
  syncRange();
  filters.addEventListener("submit", () => {
    // Leave empty fields out of the URL, so a bookmarked search stays readable.
    for (const input of filters.querySelectorAll("input, select")) {
      if (!input.value || (input.closest(".date-range") && preset.value !== "custom")) {
        input.disabled = true;
      }
    }
  });

  // ---- Thumbnails that cannot be drawn leave an empty box -----------------------------
  document.addEventListener("error", (event) => {
    if (event.target.matches && event.target.matches("img.thumb")) {
      event.target.classList.add("missing");
    }
  }, true);

  // ---- Menus close when clicking elsewhere, or on one of their items -------------------
  document.addEventListener("click", (event) => {
    const chosen = event.target.closest(".menu-items a, .menu-items button");
    for (const open of document.querySelectorAll("details.menu[open], details.multiselect[open]")) {
      if (!open.contains(event.target) || (chosen && open.contains(chosen))) {
        open.removeAttribute("open");
      }
    }
  });

  function toast(message) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  // ---- Series on demand ---------------------------------------------------------------
  results.addEventListener("click", async (event) => {
    const button = event.target.closest("button.expand");
    if (!button) return;
    const row = button.closest("tr.study");
    const next = row.nextElementSibling;
    if (next && next.classList.contains("series-row")) {
      next.remove();
      row.classList.remove("open");
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const holder = document.createElement("tr");
    holder.className = "series-row";
    holder.innerHTML = `<td colspan="${row.children.length}"><p class="series-loading">Loading series…</p></td>`;
    row.after(holder);
    row.classList.add("open");
    button.setAttribute("aria-expanded", "true");
    const cell = holder.firstElementChild;
    try {
      const response = await fetch(row.dataset.seriesUrl, { credentials: "same-origin" });
      if (!response.ok) throw new Error(response.status === 404
        ? "This study is no longer in the archive; refresh the list."
        : `The server answered ${response.status}; try again in a moment.`);
      cell.innerHTML = await response.text();
    } catch (error) {
      cell.innerHTML = "";
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = error.message.startsWith("The") || error.message.startsWith("This")
        ? error.message : "The series could not be loaded: check the connection and try again.";
      cell.append(p);
    }
  });

  // ---- Processing states --------------------------------------------------------------
  function pendingUids() {
    return [...results.querySelectorAll('tr.study[data-state="pending"]')].map((r) => r.dataset.uid);
  }

  async function pollStates() {
    const uids = pendingUids();
    if (uids.length) {
      const params = new URLSearchParams(uids.map((uid) => ["uid", uid]));
      try {
        const response = await fetch(`${body.dataset.statesUrl}?${params}`, { credentials: "same-origin" });
        if (response.ok) applyStates((await response.json()).studies);
      } catch (error) { /* offline for a moment: try again on the next tick */ }
    }
    setTimeout(pollStates, pendingUids().length ? 2000 : 5000);
  }

  function applyStates(studies) {
    for (const [uid, info] of Object.entries(studies)) {
      const row = results.querySelector(`tr.study[data-uid="${uid}"]`);
      if (!row) continue;
      row.dataset.state = info.state;
      const badge = row.querySelector(".badge");
      badge.className = `badge state-${info.state}`;
      badge.textContent = info.state;
      row.querySelector(".col-series").textContent = info.series;
      row.querySelector(".col-instances").textContent = info.instances;
      const chips = row.querySelector(".col-modalities");
      chips.replaceChildren(...info.modalities.filter(Boolean).map((code) => {
        const chip = document.createElement("span");
        chip.className = "chip";
        chip.textContent = code;
        return chip;
      }));
      if (info.state === "ready") {
        const img = row.querySelector("img.thumb");
        if (img && img.classList.contains("missing")) {
          img.classList.remove("missing");
          img.src = img.src.split("?")[0] + `?t=${Date.now()}`;
        }
      }
    }
  }

  function rememberStudies() {
    knownStudies = new Set([...results.querySelectorAll("tr.study")].map((r) => r.dataset.uid));
  }

  // The results part again, for the same search, without reloading the page.
  async function refreshRows() {
    const response = await fetch(`${body.dataset.rowsUrl}${location.search}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const before = knownStudies;
    results.innerHTML = await response.text();
    rememberStudies();
    for (const row of results.querySelectorAll("tr.study")) {
      if (!before.has(row.dataset.uid)) row.classList.add("new");
    }
  }
  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshRows, 400);
  }

  rememberStudies();
  setTimeout(pollStates, 2000);

  // ---- Searching while files upload ---------------------------------------------------
  // A page load would cut the uploads short, so while they run, searches, sorting and paging
  // replace the results part in place and put the search in the address bar.
  let uploading = () => false;

  async function showSearch(search, push) {
    const response = await fetch(`${body.dataset.rowsUrl}${search}`, { credentials: "same-origin" });
    if (!response.ok) {
      toast("The search could not be run; try again when the uploads are done.");
      return;
    }
    results.innerHTML = await response.text();
    rememberStudies();
    if (push) history.pushState(null, "", `${location.pathname}${search}`);
    const sort = new URLSearchParams(search).get("sort");
    let hidden = filters.querySelector('input[name="sort"]');
    if (sort && !hidden) {
      hidden = Object.assign(document.createElement("input"), { type: "hidden", name: "sort" });
      filters.append(hidden);
    }
    if (hidden) hidden.value = sort || "";
  }

  filters.addEventListener("submit", (event) => {
    if (!uploading()) return;
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(filters)) {
      const rangeOff = (key === "from" || key === "to") && preset.value !== "custom";
      if (value && !rangeOff) params.append(key, value);
    }
    for (const input of filters.querySelectorAll(":disabled")) input.disabled = false;
    const search = params.toString();
    showSearch(search ? `?${search}` : "", true);
  });
  results.addEventListener("click", (event) => {
    const link = event.target.closest("th a, .pager a, .empty a");
    if (!link || !uploading() || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (link.origin !== location.origin || link.pathname !== location.pathname) return;
    event.preventDefault();
    showSearch(link.search, true);
  });
  window.addEventListener("popstate", () => showSearch(location.search, false));

  // ---- Share links ----------------------------------------------------------------------
  const shareDialog = document.getElementById("share-dialog");
  if (shareDialog) {
    let study = null;
    results.addEventListener("click", (event) => {
      const button = event.target.closest("button.share");
      if (!button) return;
      study = button.dataset.uid;
      button.closest("details").removeAttribute("open");
      shareDialog.querySelector(".share-what").textContent = button.dataset.what;
      shareDialog.querySelector(".share-result").hidden = true;
      shareDialog.querySelector(".share-error").hidden = true;
      shareDialog.showModal();
    });
    document.getElementById("share-confirm").addEventListener("click", async (event) => {
      event.preventDefault();
      const error = shareDialog.querySelector(".share-error");
      const form = new FormData();
      form.append("study", study);
      form.append("expires", document.getElementById("share-expires").value);
      if (document.getElementById("share-download").checked) form.append("download", "on");
      try {
        const response = await fetch(event.target.dataset.url, {
          method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf }, body: form,
        });
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}.`);
        const url = document.getElementById("share-url");
        url.value = answer.url;
        shareDialog.querySelector(".share-result").hidden = false;
        url.select();
      } catch (problem) {
        error.textContent = problem.message;
        error.hidden = false;
      }
    });
  }

  // ---- Deletion, for administrators ---------------------------------------------------
  const dialog = document.getElementById("delete-dialog");
  if (dialog) {
    let target = null;
    results.addEventListener("click", (event) => {
      const button = event.target.closest("button.delete");
      if (!button) return;
      target = button;
      button.closest("details").removeAttribute("open");
      dialog.querySelector(".delete-what").textContent = button.dataset.what;
      dialog.querySelector(".delete-error").hidden = true;
      dialog.showModal();
    });
    document.getElementById("delete-confirm").addEventListener("click", async (event) => {
      event.preventDefault();
      const error = dialog.querySelector(".delete-error");
      try {
        const response = await fetch(target.dataset.url, {
          method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf },
        });
        if (!response.ok) {
          throw new Error(response.status === 403
            ? "Deleting needs the admin role."
            : response.status === 404 ? "The study was already gone." : `The server answered ${response.status}.`);
        }
        const row = target.closest("tr.study");
        const next = row.nextElementSibling;
        if (next && next.classList.contains("series-row")) next.remove();
        row.remove();
        dialog.close();
        const deleted = await response.json();
        toast(`Study deleted: ${deleted.series} series, ${deleted.instances} instances.`);
      } catch (problem) {
        error.textContent = problem.message.startsWith("The") || problem.message.startsWith("Deleting")
          ? problem.message : "The study could not be deleted: check the connection and try again.";
        error.hidden = false;
      }
    });
  }

  // ---- Upload -------------------------------------------------------------------------
  const uploadUrl = body.dataset.uploadUrl;
  if (uploadUrl) setUpUpload();

  function setUpUpload() {
    const maxBytes = Number(body.dataset.uploadMax);
    const panel = document.getElementById("upload-panel");
    const toggle = document.getElementById("upload-toggle");
    const zone = document.getElementById("dropzone");
    const status = document.getElementById("upload-status");
    const list = document.getElementById("upload-files");
    const overall = document.getElementById("upload-overall");
    const summary = document.getElementById("upload-summary");
    const counts = document.getElementById("upload-counts");
    const clear = document.getElementById("upload-clear");
    const CONCURRENCY = Number(body.dataset.uploadParallel) || 3;
    let jobs = [];
    uploading = () => jobs.some((job) => !job.done);
    let running = 0;

    const showPanel = (show) => {
      panel.hidden = !show;
      toggle.setAttribute("aria-expanded", String(show));
    };
    toggle.addEventListener("click", () => showPanel(panel.hidden));

    for (const id of ["pick-files", "pick-folder"]) {
      const input = document.getElementById(id);
      input.addEventListener("change", () => {
        add([...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
        input.value = "";
      });
    }

    // Dropping anywhere on the page works; the zone lights up while something is dragged.
    let depth = 0;
    document.addEventListener("dragenter", (event) => {
      if (![...event.dataTransfer.types].includes("Files")) return;
      depth += 1;
      body.classList.add("dragging");
      showPanel(true);
    });
    document.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) body.classList.remove("dragging");
    });
    document.addEventListener("dragover", (event) => event.preventDefault());
    document.addEventListener("drop", async (event) => {
      event.preventDefault();
      depth = 0;
      body.classList.remove("dragging");
      const entries = [...event.dataTransfer.items]
        .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
      if (entries.some(Boolean)) {
        const files = [];
        for (const entry of entries.filter(Boolean)) await walk(entry, files);
        add(files);
      } else {
        add([...event.dataTransfer.files].map((file) => ({ file, path: file.name })));
      }
    });

    async function walk(entry, out) {
      if (entry.isFile) {
        const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
        out.push({ file, path: entry.fullPath.replace(/^\//, "") });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        for (;;) {  // readEntries returns at most 100 at a time
          const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
          if (!batch.length) break;
          for (const child of batch) await walk(child, out);
        }
      }
    }

    clear.addEventListener("click", () => {
      jobs = jobs.filter((job) => !job.done);
      list.replaceChildren(...jobs.map((job) => job.li));
      update();
    });

    function add(items) {
      if (!items.length) return;
      if (jobs.every((job) => job.done)) {
        jobs = [];
        list.replaceChildren();
      }
      status.hidden = false;
      for (const { file, path } of items) {
        const li = document.createElement("li");
        li.innerHTML = '<span class="fname"></span><span class="fsize"></span>'
          + '<progress max="1" value="0"></progress><span class="outcome">waiting</span>';
        li.querySelector(".fname").textContent = path;
        li.querySelector(".fname").title = path;
        li.querySelector(".fsize").textContent = size(file.size);
        list.append(li);
        const job = { file, path, li, loaded: 0, done: false, results: [] };
        jobs.push(job);
        if (file.size > maxBytes) {
          finish(job, [{ name: path, status: "rejected",
            reason: `the file is ${size(file.size)}, larger than the upload limit of ${body.dataset.uploadMaxLabel}` }]);
        }
      }
      update();
      pump();
    }

    function pump() {
      while (running < CONCURRENCY) {
        const job = jobs.find((j) => !j.done && !j.started);
        if (!job) break;
        send(job);
      }
    }

    function send(job) {
      job.started = true;
      running += 1;
      const bar = job.li.querySelector("progress");
      job.li.querySelector(".outcome").textContent = "uploading…";
      const xhr = new XMLHttpRequest();
      xhr.open("POST", uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("X-File-Name", encodeURIComponent(job.path));
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", (event) => {
        job.loaded = event.loaded;
        bar.value = event.total ? event.loaded / event.total : 0;
        if (event.loaded === event.total) job.li.querySelector(".outcome").textContent = "indexing…";
        update();
      });
      xhr.addEventListener("load", () => {
        let answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (error) { /* not JSON: see below */ }
        if (answer && answer.results) {
          finish(job, answer.results);
        } else {
          finish(job, [{ name: job.path, status: "rejected", reason: httpProblem(xhr.status) }]);
        }
      });
      xhr.addEventListener("error", () => finish(job, [{ name: job.path, status: "rejected",
        reason: "the connection was lost during the upload; check the network and send the file again" }]));
      xhr.send(job.file);
    }

    function httpProblem(code) {
      if (code === 401) return "your session has ended: sign in again (reload the page), then send the file again";
      if (code === 403) return "you may not upload: this needs the uploader role, or your session expired (reload the page)";
      if (code === 413) return `the file is larger than the server accepts (${body.dataset.uploadMaxLabel} per file)`;
      if (code === 0) return "the server could not be reached";
      return `the server answered ${code}; try again, and tell an administrator if it persists`;
    }

    function finish(job, outcomes) {
      if (job.done) return;
      if (job.started) running -= 1;
      job.done = true;
      job.loaded = job.file.size;
      job.results = outcomes;
      job.li.querySelector("progress").value = 1;
      const cell = job.li.querySelector(".outcome");
      cell.replaceChildren();
      if (outcomes.length === 1 && outcomes[0].name === job.path) {
        cell.append(describe(outcomes[0], false));
      } else {
        // A zip: one line per member.
        const ul = document.createElement("ul");
        for (const outcome of outcomes) {
          const li = document.createElement("li");
          li.append(describe(outcome, true));
          ul.append(li);
        }
        cell.append(ul);
      }
      job.li.dataset.status = outcomes.map((o) => o.status).join(",");
      if (outcomes.some((o) => o.study_instance_uid && !knownStudies.has(o.study_instance_uid)
          && (o.status === "stored" || o.status === "replaced"))) {
        refreshSoon();
      }
      update();
      pump();
    }

    function describe(outcome, withName) {
      const span = document.createElement("span");
      const word = document.createElement("span");
      word.className = `status status-${outcome.status.replace(/ /g, "-")}`;
      word.textContent = outcome.status;
      if (withName) span.append(`${outcome.name.split("/").slice(1).join("/")}: `);
      span.append(word);
      if (outcome.reason) span.append(` — ${outcome.reason}`);
      return span;
    }

    function update() {
      const total = jobs.reduce((sum, job) => sum + job.file.size, 0);
      const loaded = jobs.reduce((sum, job) => sum + (job.done ? job.file.size : job.loaded), 0);
      const done = jobs.filter((job) => job.done).length;
      overall.value = total ? loaded / total : (jobs.length && done === jobs.length ? 1 : 0);
      const tally = {};
      for (const job of jobs) for (const o of job.results) tally[o.status] = (tally[o.status] || 0) + 1;
      const sent = `${jobs.length} file${jobs.length === 1 ? "" : "s"}`;
      summary.textContent = done === jobs.length
        ? `Finished: ${sent}`
        : `Uploading ${done} of ${sent} · ${size(loaded)} of ${size(total)}`;
      // The counts are of what was stored or refused: a zip counts once per file inside.
      const outcomes = Object.values(tally).reduce((sum, n) => sum + n, 0);
      const inside = outcomes !== done ? `${outcomes} files inside: ` : "";
      counts.textContent = inside + Object.entries(tally).map(([word, n]) => `${n} ${word}`).join(" · ");
      clear.hidden = done === 0;
      if (jobs.length && done === jobs.length) finished();
    }

    // When every upload went in, the panel gets out of the list's way (the outcome stays in
    // a toast and behind the Upload button); with a refusal it stays open to be read.
    function finished() {
      const refused = jobs.some((job) => job.results.some((o) => o.status === "rejected"));
      clearTimeout(finished.timer);
      if (refused || panel.hidden) return;
      finished.timer = setTimeout(() => {
        if (jobs.every((job) => job.done) && !panel.matches(":focus-within")) {
          showPanel(false);
          toast(`${summary.textContent} — ${counts.textContent}`);
        }
      }, 1500);
    }

    window.addEventListener("beforeunload", (event) => {
      if (jobs.some((job) => !job.done)) event.preventDefault();
    });
  }

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit ? `${value.toFixed(1)} ${units[unit]}` : `${value} bytes`;
  }
})();
