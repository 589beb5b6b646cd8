#:project ../src/Ember/Ember.csproj
// Chapter 9: explaining predictions. Exact SHAP values of a small network, their additivity, and integrated gradients.
using Ember;
using Ember.Explain;

var g = new Generator(3);
var w1 = Tensor.Randn([4, 16], DType.Float64, g).Div(2);
var w2 = Tensor.Randn([16, 1], DType.Float64, g).Div(4);
Func<Tensor, Tensor> f = rows => rows.Matmul(w1).Tanh().Matmul(w2).Squeeze(-1);
var x = Tensor.FromArray(new[] { 1.0, -0.5, 2.0, 0.0 });
var background = Tensor.Randn([50, 4], DType.Float64, g);
var shap = Shap.Exact(f, x, background);
Console.WriteLine($"E[f] = {shap.BaseValue:F4}, f(x) = {shap.Output:F4}, φ = [{string.Join(", ", shap.Values.Select(v => v.ToString("F4")))}]");
Console.WriteLine($"additivity: E[f] + Σφ − f(x) = {-shap.Gap:E1}");
var (ig, gap) = Attributions.IntegratedGradients(f, x.Unsqueeze(0), steps: 128);
Console.WriteLine($"integrated gradients from 0: [{string.Join(", ", ig.ToArrayDouble().Select(v => v.ToString("F4")))}], completeness gap {gap:E1}");
if (Math.Abs(shap.Gap) > 1e-12 || Math.Abs(gap) > 1e-3) throw new Exception("attributions must add up");
Console.WriteLine("ok");
