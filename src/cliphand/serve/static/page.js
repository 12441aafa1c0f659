// The cliphand page: send a photo (or webcam frames) to /api/v1/predict, draw what comes back.
"use strict";

const PARENTS = [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19];
const FINGER_COLORS = ["#e53935", "#fb8c00", "#43a047", "#1e88e5", "#8e24aa"];  // thumb .. little finger
const HAND_COLORS = [[0.86, 0.62, 0.5], [0.5, 0.7, 0.9], [0.6, 0.85, 0.55], [0.9, 0.8, 0.45]];
const $ = (id) => document.getElementById(id);
const viewer = new MeshViewer($("mesh"));
let last = null, busy = false, webcam = null;

function status(text, error = false) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

async function send(blob, name) {
  busy = true;
  const form = new FormData();
  form.append("image", blob, name || "photo.jpg");
  const started = performance.now();
  try {
    const response = await fetch("api/v1/predict", { method: "POST", body: form });
    const result = await response.json();
    if (!response.ok) { status(`${response.status}: ${result.error}`, true); return; }
    const bitmap = await createImageBitmap(blob);
    last = result;
    show(bitmap, result);
    const ms = Math.round(performance.now() - started);
    status(`${result.hands.length} hand${result.hands.length === 1 ? "" : "s"} found (${ms} ms)`);
  } catch (err) {
    status(`request failed: ${err}`, true);
  } finally {
    busy = false;
  }
}

function facesOf(hand, faces) { return hand.handedness === "left" ? faces.map(([a, b, c]) => [a, c, b]) : faces; }

function show(bitmap, result) {
  const canvas = $("overlay"), ctx = canvas.getContext("2d");
  const scale = Math.min(1, 960 / bitmap.width);
  canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const K = result.K;
  const project = (v) => [(K[0][0] * v[0] / v[2] + K[0][2]) * scale, (K[1][1] * v[1] / v[2] + K[1][2]) * scale];
  result.hands.forEach((hand, h) => {
    const rgb = HAND_COLORS[h % HAND_COLORS.length].map((c) => Math.round(255 * c));
    ctx.fillStyle = `rgba(${rgb}, 0.25)`;
    const uv = hand.vertices.map(project);
    for (const [a, b, c] of result.faces) {
      ctx.beginPath(); ctx.moveTo(...uv[a]); ctx.lineTo(...uv[b]); ctx.lineTo(...uv[c]); ctx.fill();
    }
    ctx.lineWidth = 3;
    hand.joints_2d.forEach((p, j) => {
      if (PARENTS[j] < 0) return;
      const q = hand.joints_2d[PARENTS[j]];
      ctx.strokeStyle = FINGER_COLORS[Math.floor((j - 1) / 4)];
      ctx.beginPath(); ctx.moveTo(q[0] * scale, q[1] * scale); ctx.lineTo(p[0] * scale, p[1] * scale); ctx.stroke();
    });
    const [x, y] = hand.bbox ? hand.bbox : hand.joints_2d[0];
    ctx.fillStyle = `rgb(${rgb})`; ctx.font = "bold 15px system-ui";
    ctx.fillText(`${h + 1} ${hand.handedness}`, x * scale, Math.max(14, y * scale - 4));
  });
  $("hands").innerHTML = "";
  result.hands.forEach((hand, h) => {
    const item = document.createElement("li");
    const score = hand.score === null ? "given box" : `detector ${hand.score.toFixed(2)}`;
    item.textContent = `hand ${h + 1}: ${hand.handedness}, confidence ${hand.confidence.toFixed(2)}, ${score}`;
    $("hands").appendChild(item);
  });
  viewer.show(result.hands.map((hand, h) => ({ vertices: hand.vertices, faces: facesOf(hand, result.faces),
    color: HAND_COLORS[h % HAND_COLORS.length] })));
  $("json").disabled = false; $("meshfile").disabled = result.hands.length === 0;
}

function download(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob); link.download = name; link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

$("json").onclick = () => download(new Blob([JSON.stringify(last)], { type: "application/json" }), "hands.json");
$("meshfile").onclick = async () => {
  // All hands in one file: the second hand's faces index after the first hand's vertices.
  const vertices = [], faces = [];
  for (const hand of last.hands) {
    const offset = vertices.length;
    vertices.push(...hand.vertices);
    faces.push(...facesOf(hand, last.faces).map((f) => f.map((i) => i + offset)));
  }
  const format = $("format").value;
  const response = await fetch("api/v1/mesh", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ vertices, faces, format }) });
  if (!response.ok) { status(`${response.status}: ${(await response.json()).error}`, true); return; }
  download(await response.blob(), `hands${format}`);
};

$("file").onchange = (e) => { if (e.target.files[0]) send(e.target.files[0], e.target.files[0].name); };
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => {
  e.preventDefault(); drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) send(file, file.name);
};

$("camera").onclick = async () => {
  if (webcam) { clearInterval(webcam.timer); webcam.stream.getTracks().forEach((t) => t.stop()); webcam = null;
    $("camera").textContent = "Use the webcam"; return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    const video = $("video"); video.srcObject = stream; await video.play();
    const grab = document.createElement("canvas");
    // A few frames per second, never more than one request in flight.
    const timer = setInterval(() => {
      if (busy || !video.videoWidth) return;
      grab.width = video.videoWidth; grab.height = video.videoHeight;
      grab.getContext("2d").drawImage(video, 0, 0);
      grab.toBlob((blob) => send(blob, "webcam.jpg"), "image/jpeg", 0.85);
    }, 300);
    webcam = { stream, timer };
    $("camera").textContent = "Stop the webcam";
  } catch (err) {
    status(`webcam unavailable: ${err.message}`, true);
  }
};

fetch("api/v1/info").then((r) => r.json()).then((info) => {
  $("info").textContent = `cliphand ${info.version} · ${info.checkpoint} · ${info.backend} · ${info.workers} worker(s)`;
});
