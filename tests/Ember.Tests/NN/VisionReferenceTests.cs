using System.Text.Json;
using Ember.NN;
using Xunit;
using F = Ember.NN.Functional;

namespace Ember.Tests;

/// <summary>Convolution, pooling, normalization and resize against PyTorch (Fixtures/gen_vision_fixtures.py): the
/// forward values and the gradient of every input for a random output gradient, in float64 and float32.</summary>
public class VisionReferenceTests
{
    private static readonly Dictionary<string, Func<Tensor[], Tensor>> s_ops = new()
    {
        ["conv2d_basic"] = a => F.Conv2d(a[0], a[1], a[2], padding: 1),
        ["conv2d_stride_dil_asym"] = a => F.Conv2d(a[0], a[1], stride: (2, 1), padding: (1, 2), dilation: (1, 2)),
        ["conv2d_groups"] = a => F.Conv2d(a[0], a[1], a[2], stride: 2, groups: 2),
        ["conv2d_depthwise_same"] = a => F.Conv2d(a[0], a[1], padding: "same", groups: 3),
        ["conv2d_same_even"] = a => F.Conv2d(a[0], a[1], padding: Padding.Same, dilation: (1, 2)),
        ["conv2d_pointwise"] = a => F.Conv2d(a[0], a[1], a[2]),
        ["conv1d"] = a => F.Conv1d(a[0], a[1], a[2], stride: 2, padding: 1, dilation: 2),
        ["conv_transpose2d"] = a => F.ConvTranspose2d(a[0], a[1], a[2], stride: 2, padding: 1, outputPadding: 1),
        ["conv_transpose2d_groups_dil"] = a => F.ConvTranspose2d(a[0], a[1], stride: (1, 2), padding: 1, groups: 2, dilation: 2),
        ["conv_transpose2d_pointwise"] = a => F.ConvTranspose2d(a[0], a[1]),
        ["conv_transpose1d"] = a => F.ConvTranspose1d(a[0], a[1], a[2], stride: 3, padding: 1, outputPadding: 2),
        ["max_pool2d_2x2"] = a => F.MaxPool2d(a[0], 2),
        ["max_pool2d_2x2_even"] = a => F.MaxPool2d(a[0], 2),
        ["max_pool2d_2x2_ties"] = a => F.MaxPool2d(a[0], 2),
        ["max_pool2d_k3s2p1_ceil"] = a => F.MaxPool2d(a[0], 3, stride: 2, padding: 1, ceilMode: true),
        ["max_pool2d_dilated"] = a => F.MaxPool2d(a[0], 2, stride: 1, dilation: 2),
        ["avg_pool2d_include"] = a => F.AvgPool2d(a[0], 3, stride: 2, padding: 1),
        ["avg_pool2d_exclude_ceil"] = a => F.AvgPool2d(a[0], 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false),
        ["adaptive_avg_pool2d"] = a => F.AdaptiveAvgPool2d(a[0], (3, 4)),
        ["adaptive_avg_pool2d_global"] = a => F.AdaptiveAvgPool2d(a[0], 1),
        ["max_pool1d"] = a => F.MaxPool1d(a[0], 3, stride: 2, padding: 1),
        ["avg_pool1d"] = a => F.AvgPool1d(a[0], 2),
        ["batch_norm2d_train"] = a => F.BatchNorm(a[0], null, null, a[1], a[2], training: true, momentum: 0.2),
        ["batch_norm1d_train"] = a => F.BatchNorm(a[0], null, null, a[1], a[2], training: true, momentum: 0.2),
        ["layer_norm"] = a => F.LayerNorm(a[0], [3, 5], a[1], a[2]),
        ["layer_norm_plain"] = a => F.LayerNorm(a[0], [6]),
        ["group_norm"] = a => F.GroupNorm(a[0], 2, a[1], a[2]),
        ["interp_nearest_size"] = a => F.Interpolate(a[0], size: (5, 7)),
        ["interp_nearest_scale2"] = a => F.Interpolate(a[0], scaleFactor: (2, 2)),
        ["interp_bilinear"] = a => F.Interpolate(a[0], size: (5, 7), mode: InterpolationMode.Bilinear),
        ["interp_bilinear_align"] = a => F.Interpolate(a[0], size: (5, 7), mode: InterpolationMode.Bilinear, alignCorners: true),
        ["interp_bilinear_scale2"] = a => F.Interpolate(a[0], scaleFactor: (2, 2), mode: InterpolationMode.Bilinear),
        ["interp_bilinear_down"] = a => F.Interpolate(a[0], size: (2, 3), mode: InterpolationMode.Bilinear),
    };

    public static IEnumerable<object[]> Cases() =>
        TorchReference.Vision.GetProperty("cases").EnumerateArray().Select(c => new object[] { c.GetProperty("name").GetString()! });

    private static JsonElement Case(string name) =>
        TorchReference.Vision.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static Func<Tensor[], Tensor> Op(string name, JsonElement c)
    {
        if (name == "batch_norm2d_eval")
        {
            var rm = Tensor.FromArray(c.Doubles("running_mean_in"));
            var rv = Tensor.FromArray(c.Doubles("running_var_in"));
            return a => F.BatchNorm(a[0], rm.To(a[0].DType), rv.To(a[0].DType), a[1], a[2], training: false, eps: 1e-3);
        }
        return s_ops[name];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPyTorch(string name)
    {
        var c = Case(name);
        foreach (var (dtype, tol) in new[] { (DType.Float64, 1e-10), (DType.Float32, 2e-4) })
        {
            var inputs = c.GetProperty("inputs").EnumerateArray()
                .Select(i => Tensor.FromArray(i.Doubles("values"), i.Ints("shape")).To(dtype).RequiresGrad_()).ToArray();
            var y = Op(name, c)(inputs);
            Assert.Equal(c.Ints("output_shape"), y.Shape);
            TorchReference.Close(c.Doubles("output"), y.ToArrayDouble(), tol, $"{name} {dtype} output");
            var g = Tensor.FromArray(c.Doubles("grad_output"), c.Ints("output_shape")).To(dtype);
            y.Backward(g);
            var grads = c.GetProperty("grads").EnumerateArray().ToArray();
            for (int i = 0; i < inputs.Length; i++)
            {
                if (grads[i].ValueKind == JsonValueKind.Null) continue;
                Assert.NotNull(inputs[i].Grad);
                TorchReference.Close(grads[i].EnumerateArray().Select(e => e.GetDouble()).ToArray(), inputs[i].Grad!.ToArrayDouble(), tol * 5,
                    $"{name} {dtype} grad of input {i}");
            }
        }
    }

    [Theory]
    [InlineData("batch_norm2d_train")]
    [InlineData("batch_norm1d_train")]
    public void BatchNormUpdatesRunningStatisticsLikePyTorch(string name)
    {
        var c = Case(name);
        var inputs = c.GetProperty("inputs").EnumerateArray().Select(i => Tensor.FromArray(i.Doubles("values"), i.Ints("shape"))).ToArray();
        var rm = Tensor.FromArray(c.Doubles("running_mean_in"));
        var rv = Tensor.FromArray(c.Doubles("running_var_in"));
        F.BatchNorm(inputs[0], rm, rv, inputs[1], inputs[2], training: true, momentum: 0.2);
        TorchReference.Close(c.Doubles("running_mean"), rm.ToArray<double>(), 1e-12, "running_mean");
        TorchReference.Close(c.Doubles("running_var"), rv.ToArray<double>(), 1e-12, "running_var");
    }
}
