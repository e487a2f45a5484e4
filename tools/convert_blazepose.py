"""Convert the BlazePose landmark TFLite models to ONNX, once, and verify the result numerically.

Why a converter of our own: tflite2onnx 0.4.1 fails on these files (it does not handle the float16 weights behind
DEQUANTIZE, and crashes on their PAD ops). The BlazePose landmark graphs use only nine TFLite builtins (CONV_2D,
DEPTHWISE_CONV_2D, ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR, RESHAPE, LOGISTIC, DEQUANTIZE), so this script maps each
of them to its ONNX counterpart, following the TFLite schema semantics:

- activations stay NCHW inside the ONNX graph; the graph input keeps TFLite's NHWC layout ([N,256,256,3], RGB in
  [0,1]) and one Transpose converts it; RESHAPE (only used to flatten the heads) transposes back to NHWC first, so the
  flattened order equals TFLite's;
- SAME padding is made explicit (TF rule: out = ceil(in/stride), pad_total = max((out-1)*stride + k_eff - in, 0),
  pad_begin = pad_total // 2) from the static shapes;
- float16 weights (DEQUANTIZE) stay float16 in the file and get a Cast to float32 (exact), so the ONNX file is as
  small as the TFLite one; onnxruntime folds the Casts when it loads the model;
- fused activations: RELU -> Relu, RELU6 -> Clip(0, 6), RELU_N1_TO_1 -> Clip(-1, 1), TANH -> Tanh;
- RESIZE_BILINEAR with half_pixel_centers -> Resize(linear, half_pixel), align_corners -> align_corners, else
  asymmetric.

The batch dimension is made dynamic so that several person crops run in one call. ``--outputs`` keeps only the
graph needed for some outputs (the default drops the 256x256 segmentation mask ``Identity_2``, which the detector
does not use: a smaller graph, about 40 % faster for the full model).

Verification (``--verify``): the TFLite interpreter (ai-edge-litert) and onnxruntime run the same inputs (random
images and real person crops from the videos under ../shared/videos when they exist) and the max abs difference of
every kept output is printed; the script fails above ``--tol``.

Usage:
    python tools/convert_blazepose.py --tflite ../shared/models/pose_landmark_full.tflite \
        --out weights/pose_landmark_full.onnx --verify

Needs: pip install tflite onnx ai-edge-litert onnxruntime numpy (and av + opencv-python-headless for real crops).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

# landmarks (39x5), pose presence, heatmap (64x64x39, for MediaPipe's refinement), world landmarks (39x3)
DEFAULT_OUTPUTS = ("Identity", "Identity_1", "Identity_3", "Identity_4")
OPSET = 17


def _builtin_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


class _Converter:
    """Walks one TFLite subgraph and emits ONNX nodes (NCHW activations, explicit pads)."""

    def __init__(self, buf: bytes, keep_outputs: tuple[str, ...] | None) -> None:
        import tflite

        self.tfl = tflite
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        if self.model.SubgraphsLength() != 1:
            raise SystemExit("expected one subgraph")
        self.g = self.model.Subgraphs(0)
        self.names = _builtin_names()
        self.nodes: list = []
        self.inits: list = []
        self.consts: dict[int, np.ndarray] = {}  # tensor index -> constant value (after DEQUANTIZE: float16 array)
        self.onnx_name: dict[int, str] = {}  # tensor index -> ONNX value name (NCHW for rank-4 activations)
        self.shape_nhwc: dict[int, tuple[int, ...]] = {}
        self.keep_outputs = keep_outputs
        self._uid = 0

    # ---- helpers -------------------------------------------------------------------------------------------------
    def tensor(self, i: int):
        return self.g.Tensors(int(i))

    def tname(self, i: int) -> str:
        return self.tensor(i).Name().decode()

    def tshape(self, i: int) -> tuple[int, ...]:
        t = self.tensor(i)
        return tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def buffer(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        b = self.model.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        dtype = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}[t.Type()]
        return np.frombuffer(b.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.tshape(i))

    def const(self, i: int) -> np.ndarray:
        if i in self.consts:
            return self.consts[i]
        v = self.buffer(i)
        if v is None:
            raise SystemExit(f"tensor {self.tname(i)} is not constant")
        return v

    def uid(self, stem: str) -> str:
        self._uid += 1
        return f"{stem}__{self._uid}"

    def add_init(self, arr: np.ndarray, stem: str) -> str:
        """A float32 constant; float16 data stays float16 in the file and is Cast (exactly) to float32."""
        from onnx import TensorProto, helper, numpy_helper

        name = self.uid(stem)
        if arr.dtype == np.float16:
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name + "_f16"))
            self.nodes.append(helper.make_node("Cast", [name + "_f16"], [name], to=TensorProto.FLOAT))
        else:
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def add_int64(self, values, stem: str) -> str:
        from onnx import numpy_helper

        name = self.uid(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=np.int64), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def act(self, x: str, fused: int, out: str) -> str:
        if fused == 0:
            return self.node("Identity", [x], out)
        if fused == 1:
            return self.node("Relu", [x], out)
        if fused in (2, 3):
            lo, hi = (-1.0, 1.0) if fused == 2 else (0.0, 6.0)
            lo_n = self.add_init(np.array(lo, np.float32), "clip_lo")
            hi_n = self.add_init(np.array(hi, np.float32), "clip_hi")
            return self.node("Clip", [x, lo_n, hi_n], out)
        if fused == 4:
            return self.node("Tanh", [x], out)
        raise SystemExit(f"unsupported fused activation {fused}")

    @staticmethod
    def same_pads(in_hw, k_hw, stride_hw, dil_hw) -> list[int]:
        pads_b, pads_e = [], []
        for n, k, s, d in zip(in_hw, k_hw, stride_hw, dil_hw):
            k_eff = (k - 1) * d + 1
            out = -(-n // s)
            total = max((out - 1) * s + k_eff - n, 0)
            pads_b.append(total // 2)
            pads_e.append(total - total // 2)
        return pads_b + pads_e

    def options(self, op, cls_name: str):
        o = op.BuiltinOptions()
        x = getattr(self.tfl, cls_name)()
        x.Init(o.Bytes, o.Pos)
        return x

    # ---- ops -----------------------------------------------------------------------------------------------------
    def convert(self) -> object:
        from onnx import TensorProto, helper

        g = self.g
        (inp,) = [int(i) for i in g.InputsAsNumpy()]
        in_shape = self.tshape(inp)
        in_name = self.tname(inp)
        self.shape_nhwc[inp] = in_shape
        self.onnx_name[inp] = self.node("Transpose", [in_name], self.uid("input_nchw"), perm=[0, 3, 1, 2])

        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            opname = self.names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
            ins = [int(i) for i in op.InputsAsNumpy()]
            outs = [int(i) for i in op.OutputsAsNumpy()]
            handler = getattr(self, "op_" + opname.lower(), None)
            if handler is None:
                raise SystemExit(f"unsupported TFLite op {opname}")
            handler(op, ins, outs)

        graph_outputs = []
        wanted = self.keep_outputs
        for i in [int(i) for i in g.OutputsAsNumpy()]:
            name = self.tname(i)
            if wanted is not None and name not in wanted:
                continue
            shape = self.tshape(i)
            src = self.onnx_name[i]
            if len(shape) == 4:  # back to TFLite's NHWC
                self.node("Transpose", [src], name, perm=[0, 2, 3, 1])
            else:
                self.node("Identity", [src], name)
            graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *shape[1:]]))
        if wanted is not None and len(graph_outputs) != len(wanted):
            raise SystemExit(f"asked for outputs {wanted}, found {[o.name for o in graph_outputs]}")
        graph_in = helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["N", *in_shape[1:]])
        graph = helper.make_graph(self.nodes, "blazepose_landmark", [graph_in], graph_outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mbcli")
        model.ir_version = 8
        return _prune(model)

    def op_dequantize(self, op, ins, outs):
        v = self.buffer(ins[0])
        if v is None:
            raise SystemExit("DEQUANTIZE of a non-constant tensor")
        if v.dtype != np.float16:
            raise SystemExit(f"DEQUANTIZE of {v.dtype} (only float16 weights are handled)")
        self.consts[outs[0]] = v

    def _bias(self, i: int, n: int) -> str:
        if i < 0:
            return self.add_init(np.zeros(n, np.float32), "bias0")
        return self.add_init(self.const(i), "bias")

    def op_conv_2d(self, op, ins, outs):
        o = self.options(op, "Conv2DOptions")
        w = self.const(ins[1])  # O, KH, KW, I
        O, KH, KW, _ = w.shape
        w_n = self.add_init(w.transpose(0, 3, 1, 2), "conv_w")
        b_n = self._bias(ins[2] if len(ins) > 2 else -1, O)
        strides = [o.StrideH(), o.StrideW()]
        dil = [o.DilationHFactor(), o.DilationWFactor()]
        in_hw = self.shape_nhwc[ins[0]][1:3]
        pads = self.same_pads(in_hw, (KH, KW), strides, dil) if o.Padding() == 0 else [0, 0, 0, 0]
        y = self.node("Conv", [self.onnx_name[ins[0]], w_n, b_n], self.uid("conv"), kernel_shape=[KH, KW],
                      strides=strides, dilations=dil, pads=pads, group=1)
        self._finish(outs[0], self.act(y, o.FusedActivationFunction(), self.uid("conv_act")))

    def op_depthwise_conv_2d(self, op, ins, outs):
        o = self.options(op, "DepthwiseConv2DOptions")
        w = self.const(ins[1])  # 1, KH, KW, C*M
        _, KH, KW, CM = w.shape
        C = self.shape_nhwc[ins[0]][3]
        if CM != C * o.DepthMultiplier():
            raise SystemExit("depthwise weight shape does not match channels x multiplier")
        w_n = self.add_init(w.transpose(3, 0, 1, 2), "dw_w")  # C*M, 1, KH, KW
        b_n = self._bias(ins[2] if len(ins) > 2 else -1, CM)
        strides = [o.StrideH(), o.StrideW()]
        dil = [o.DilationHFactor(), o.DilationWFactor()]
        in_hw = self.shape_nhwc[ins[0]][1:3]
        pads = self.same_pads(in_hw, (KH, KW), strides, dil) if o.Padding() == 0 else [0, 0, 0, 0]
        y = self.node("Conv", [self.onnx_name[ins[0]], w_n, b_n], self.uid("dwconv"), kernel_shape=[KH, KW],
                      strides=strides, dilations=dil, pads=pads, group=C)
        self._finish(outs[0], self.act(y, o.FusedActivationFunction(), self.uid("dw_act")))

    def op_add(self, op, ins, outs):
        o = self.options(op, "AddOptions")
        a, b = ins
        if self.tshape(a) != self.tshape(b) or a in self.consts or b in self.consts:
            raise SystemExit("ADD: only same-shape activation + activation is handled")
        y = self.node("Add", [self.onnx_name[a], self.onnx_name[b]], self.uid("add"))
        self._finish(outs[0], self.act(y, o.FusedActivationFunction(), self.uid("add_act")))

    def op_pad(self, op, ins, outs):
        p = self.const(ins[1]).astype(np.int64)  # (4, 2) NHWC: begin, end
        if p.shape != (4, 2):
            raise SystemExit(f"PAD paddings shape {p.shape}")
        nchw = p[[0, 3, 1, 2]]
        pads_n = self.add_int64(list(nchw[:, 0]) + list(nchw[:, 1]), "pads")
        self._finish(outs[0], self.node("Pad", [self.onnx_name[ins[0]], pads_n], self.uid("pad"), mode="constant"))

    def op_max_pool_2d(self, op, ins, outs):
        o = self.options(op, "Pool2DOptions")
        k = [o.FilterHeight(), o.FilterWidth()]
        strides = [o.StrideH(), o.StrideW()]
        in_hw = self.shape_nhwc[ins[0]][1:3]
        pads = self.same_pads(in_hw, k, strides, (1, 1)) if o.Padding() == 0 else [0, 0, 0, 0]
        y = self.node("MaxPool", [self.onnx_name[ins[0]]], self.uid("pool"), kernel_shape=k, strides=strides,
                      pads=pads)
        self._finish(outs[0], self.act(y, o.FusedActivationFunction(), self.uid("pool_act")))

    def op_resize_bilinear(self, op, ins, outs):
        o = self.options(op, "ResizeBilinearOptions")
        size = [int(s) for s in self.const(ins[1])]
        N, _, _, C = self.shape_nhwc[ins[0]]
        mode = "align_corners" if o.AlignCorners() else ("half_pixel" if o.HalfPixelCenters() else "asymmetric")
        # sizes for all four NCHW axes; the batch axis is taken from the input at run time
        shape_n = self.node("Shape", [self.onnx_name[ins[0]]], self.uid("shape"))
        nc = self.node("Slice", [shape_n, self.add_int64([0], "s0"), self.add_int64([2], "s2")], self.uid("nc"))
        sizes = self.node("Concat", [nc, self.add_int64(size, "hw")], self.uid("sizes"), axis=0)
        y = self.node("Resize", [self.onnx_name[ins[0]], "", "", sizes], self.uid("resize"), mode="linear",
                      coordinate_transformation_mode=mode)
        self._finish(outs[0], y)

    def op_logistic(self, op, ins, outs):
        self._finish(outs[0], self.node("Sigmoid", [self.onnx_name[ins[0]]], self.uid("sigmoid")))

    def op_reshape(self, op, ins, outs):
        src = self.onnx_name[ins[0]]
        if len(self.shape_nhwc[ins[0]]) == 4:
            src = self.node("Transpose", [src], self.uid("to_nhwc"), perm=[0, 2, 3, 1])
        new_shape = list(self.tshape(outs[0]))
        if len(new_shape) == 4:
            raise SystemExit("RESHAPE to rank 4 is not handled")
        new_shape[0] = -1  # dynamic batch
        y = self.node("Reshape", [src, self.add_int64(new_shape, "shape")], self.uid("reshape"))
        self.onnx_name[outs[0]] = y
        self.shape_nhwc[outs[0]] = self.tshape(outs[0])

    def _finish(self, out_idx: int, name: str) -> None:
        self.onnx_name[out_idx] = name
        self.shape_nhwc[out_idx] = self.tshape(out_idx)


def _prune(model):
    """Drop nodes and initializers that no graph output depends on."""
    g = model.graph
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    return model


def convert(tflite_path: Path, outputs: tuple[str, ...] | None):
    import onnx

    model = _Converter(tflite_path.read_bytes(), outputs).convert()
    onnx.checker.check_model(model)
    return model


# ---- verification ------------------------------------------------------------------------------------------------
def real_crops(videos_dir: Path, per_video: int = 4) -> list[np.ndarray]:
    """Square crops (256x256 RGB float32 in [0,1]) from the middle of a few frames of each sample video, at two
    scales: realistic image statistics with people in them (exact person placement does not matter for an
    equality check between two runtimes)."""
    import av
    import cv2

    crops = []
    for path in sorted(videos_dir.glob("*.mp4")):
        with av.open(str(path)) as c:
            for fi, frame in enumerate(c.decode(video=0)):
                if fi >= 25 * per_video:
                    break
                if fi % 25:
                    continue
                img = frame.to_ndarray(format="rgb24")
                H, W = img.shape[:2]
                for scale in (0.9, 0.6):
                    s = int(min(H, W) * scale)
                    y0, x0 = (H - s) // 2, (W - s) // 2
                    crops.append(cv2.resize(img[y0:y0 + s, x0:x0 + s], (256, 256), interpolation=cv2.INTER_AREA))
    return [c.astype(np.float32) / 255.0 for c in crops]


def verify(tflite_path: Path, onnx_path: Path, images: list[np.ndarray], rel_tol: float) -> dict[str, float]:
    """Run both runtimes on ``images``; print, per kept output, max |onnx - tflite| and that over max |tflite|.
    Fails when the relative difference exceeds ``rel_tol``. The TFLite side runs the reference builtin kernels
    (no XNNPACK delegate); the ONNX side runs the whole batch in one call."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(tflite_path),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    in_idx = it.get_input_details()[0]["index"]
    out_idx = {d["name"]: d["index"] for d in it.get_output_details()}
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: np.stack(images).astype(np.float32)})))
    refs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for img in images:
        it.set_tensor(in_idx, img[None].astype(np.float32))
        it.invoke()
        for n in names:
            refs[n].append(it.get_tensor(out_idx[n])[0])
    rel = {}
    for n in names:
        ref = np.stack(refs[n])
        diff = float(np.abs(ref - got[n]).max())
        rel[n] = diff / max(float(np.abs(ref).max()), 1e-12)
        extra = ""
        if n == "Identity":  # 39 landmarks x (x, y, z, visibility, presence), x/y in crop pixels (0..256)
            lm_diff = np.abs(ref - got[n]).reshape(len(images), 39, 5)
            extra = f"; x,y: {lm_diff[..., :2].max():.3g} px, visibility/presence logits: {lm_diff[..., 3:].max():.3g}"
        print(f"  {n}: max |onnx - tflite| = {diff:.3g} (relative {rel[n]:.2g}) over {len(images)} images{extra}")
    bad = {n: v for n, v in rel.items() if v > rel_tol}
    if bad:
        raise SystemExit(f"verification failed (relative tol {rel_tol}): {bad}")
    return rel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflite", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--outputs", default=",".join(DEFAULT_OUTPUTS),
                    help="comma-separated TFLite output names to keep, or 'all'")
    ap.add_argument("--verify", action="store_true", help="compare with the TFLite interpreter")
    ap.add_argument("--videos", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "videos")
    ap.add_argument("--tol", type=float, default=1e-4, help="max relative difference allowed per output")
    args = ap.parse_args(argv)

    import onnx

    outputs = None if args.outputs == "all" else tuple(s for s in args.outputs.split(",") if s)
    model = convert(args.tflite, outputs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(args.out)
    sha = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {len(model.graph.node)} nodes) sha256 {sha}")
    if args.verify:
        if args.videos.is_dir():
            images = real_crops(args.videos)
        else:  # noise drives the network far outside its training range: expect larger relative differences
            print(f"  (no videos at {args.videos}: random images only)")
            rng = np.random.default_rng(0)
            images = [rng.random((256, 256, 3), dtype=np.float32) for _ in range(8)]
        verify(args.tflite, args.out, images, args.tol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
