// cliphand's small WebGL mesh viewer: shaded triangles, drag to rotate, wheel to zoom.
// MeshViewer(canvas).show([{vertices: [[x, y, z], ...], faces: [[a, b, c], ...], color: [r, g, b]}])
"use strict";

class MeshViewer {
  constructor(canvas) {
    this.canvas = canvas;
    const gl = canvas.getContext("webgl", { antialias: true, preserveDrawingBuffer: true });
    if (!gl) throw new Error("WebGL is not available in this browser");
    this.gl = gl;
    this.program = this.compile(
      `attribute vec3 position; attribute vec3 normal; uniform mat4 view; uniform mat4 projection;
       varying vec3 vNormal;
       void main() { vNormal = mat3(view) * normal; gl_Position = projection * view * vec4(position, 1.0); }`,
      `precision mediump float; uniform vec3 color; varying vec3 vNormal;
       void main() {
         vec3 n = normalize(vNormal); if (!gl_FrontFacing) n = -n;
         float light = 0.35 + 0.65 * max(dot(n, normalize(vec3(0.3, 0.5, 1.0))), 0.0);
         gl_FragColor = vec4(color * light, 1.0);
       }`);
    this.meshes = [];
    this.yaw = 0; this.pitch = 0; this.distance = 3.0;
    let last = null;
    canvas.addEventListener("pointerdown", (e) => { last = [e.clientX, e.clientY]; canvas.setPointerCapture(e.pointerId); });
    canvas.addEventListener("pointerup", () => { last = null; });
    canvas.addEventListener("pointermove", (e) => {
      if (!last) return;
      this.yaw += (e.clientX - last[0]) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + (e.clientY - last[1]) * 0.01));
      last = [e.clientX, e.clientY];
      this.draw();
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.distance = Math.max(0.8, Math.min(12, this.distance * Math.exp(e.deltaY * 0.001)));
      this.draw();
    }, { passive: false });
  }

  compile(vertexSource, fragmentSource) {
    const gl = this.gl, program = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, vertexSource], [gl.FRAGMENT_SHADER, fragmentSource]]) {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source); gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
      gl.attachShader(program, shader);
    }
    gl.linkProgram(program);
    return program;
  }

  // Hands arrive in the camera frame (x right, y down, z forward): centre them on their mean, scale
  // them to a unit box and flip y and z so the view starts as the camera saw them.
  show(meshes) {
    const gl = this.gl;
    const all = meshes.flatMap((m) => m.vertices);
    this.meshes = [];
    if (!all.length) { this.draw(); return; }
    const centre = [0, 1, 2].map((k) => all.reduce((s, v) => s + v[k], 0) / all.length);
    const radius = Math.max(...all.map((v) => Math.hypot(v[0] - centre[0], v[1] - centre[1], v[2] - centre[2])));
    for (const m of meshes) {
      const positions = new Float32Array(m.vertices.length * 3);
      m.vertices.forEach((v, i) => {
        positions[3 * i] = (v[0] - centre[0]) / radius;
        positions[3 * i + 1] = -(v[1] - centre[1]) / radius;
        positions[3 * i + 2] = -(v[2] - centre[2]) / radius;
      });
      const normals = vertexNormals(positions, m.faces);
      const indices = new Uint16Array(m.faces.flat());
      const buffer = (target, data) => { const b = gl.createBuffer(); gl.bindBuffer(target, b); gl.bufferData(target, data, gl.STATIC_DRAW); return b; };
      this.meshes.push({ position: buffer(gl.ARRAY_BUFFER, positions), normal: buffer(gl.ARRAY_BUFFER, normals),
        index: buffer(gl.ELEMENT_ARRAY_BUFFER, indices), count: indices.length, color: m.color || [0.85, 0.65, 0.55] });
    }
    this.draw();
  }

  draw() {
    const gl = this.gl, p = this.program;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(0.925, 0.937, 0.945, 1); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST); gl.useProgram(p);
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    // view = translate(0, 0, -distance) * rotateX(pitch) * rotateY(yaw), column-major
    const view = [cy, sp * sy, -cp * sy, 0, 0, cp, sp, 0, sy, -sp * cy, cp * cy, 0, 0, 0, -this.distance, 1];
    const f = 1 / Math.tan(0.35), near = 0.1, far = 50, aspect = this.canvas.width / this.canvas.height;
    const projection = [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1, 0, 0, 2 * far * near / (near - far), 0];
    gl.uniformMatrix4fv(gl.getUniformLocation(p, "view"), false, view);
    gl.uniformMatrix4fv(gl.getUniformLocation(p, "projection"), false, projection);
    for (const m of this.meshes) {
      for (const [name, buffer] of [["position", m.position], ["normal", m.normal]]) {
        const loc = gl.getAttribLocation(p, name);
        gl.bindBuffer(gl.ARRAY_BUFFER, buffer); gl.enableVertexAttribArray(loc);
        gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
      }
      gl.uniform3fv(gl.getUniformLocation(p, "color"), m.color);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, m.index);
      gl.drawElements(gl.TRIANGLES, m.count, gl.UNSIGNED_SHORT, 0);
    }
  }
}

function vertexNormals(positions, faces) {
  const normals = new Float32Array(positions.length);
  for (const [a, b, c] of faces) {
    const p = (i, k) => positions[3 * i + k];
    const u = [0, 1, 2].map((k) => p(b, k) - p(a, k)), w = [0, 1, 2].map((k) => p(c, k) - p(a, k));
    const n = [u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]];
    for (const i of [a, b, c]) for (let k = 0; k < 3; k++) normals[3 * i + k] += n[k];
  }
  for (let i = 0; i < normals.length; i += 3) {
    const len = Math.hypot(normals[i], normals[i + 1], normals[i + 2]) || 1;
    normals[i] /= len; normals[i + 1] /= len; normals[i + 2] /= len;
  }
  return normals;
}
