#:project ../src/Ember/Ember.csproj
// Chapter 7: attention. softmax(QKᵀ/√d)·V written out by hand against the fused kernel, with a causal mask.
using Ember;
using Ember.NN;

var g = new Generator(2);
int t = 5, d = 8;
var q = Tensor.Randn([1, t, d], DType.Float64, g);
var k = Tensor.Randn([1, t, d], DType.Float64, g);
var v = Tensor.Randn([1, t, d], DType.Float64, g);
var scores = q.Matmul(k.MT).Div(Math.Sqrt(d));
var visible = Tensor.Arange(t).Unsqueeze(1).Ge(Tensor.Arange(t).Unsqueeze(0));   // query i sees keys j ≤ i
var masked = Tensor.Where(visible, scores, double.NegativeInfinity);
var byHand = masked.Softmax(-1).Matmul(v);
var fused = Functional.ScaledDotProductAttention(q, k, v, isCausal: true);
double diff = byHand.Sub(fused).Abs().Amax(null).Item();
Console.WriteLine($"max |by hand − fused| = {diff:E2}");
Console.WriteLine($"first query attends only to itself: output row 0 equals v row 0: {fused.Select(1, 0).Sub(v.Select(1, 0)).Abs().Amax(null).Item() < 1e-12}");
if (diff > 1e-12) throw new Exception("the fused kernel must equal the definition");
Console.WriteLine("ok");
