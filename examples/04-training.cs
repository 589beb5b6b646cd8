#:project ../src/Ember/Ember.csproj
// Chapter 4: the training loop. Two interleaved spirals, an MLP, cross-entropy, Adam: forward, loss, backward, step.
using Ember;
using Ember.NN;
using Ember.Optim;

var g = new Generator(0);
int n = 400;
var pts = new float[2 * n * 2];
var labels = new long[2 * n];
for (int c = 0; c < 2; c++)
    for (int i = 0; i < n; i++)
    {
        double r = i / (double)n * 3, th = i / (double)n * 3 * Math.PI + c * Math.PI + g.NextNormal() * 0.15;
        int k = c * n + i;
        (pts[2 * k], pts[2 * k + 1], labels[k]) = ((float)(r * Math.Cos(th)), (float)(r * Math.Sin(th)), c);
    }
var x = Tensor.FromArray(pts, 2 * n, 2);
var y = Tensor.FromArray(labels, 2 * n);
var model = new Sequential(new Linear(2, 64, generator: g), new Tanh(), new Linear(64, 64, generator: g), new Tanh(), new Linear(64, 2, generator: g));
var opt = new Adam(model.Parameters(), lr: 0.01);
for (int step = 0; step <= 600; step++)
{
    var loss = Functional.CrossEntropy(model.Call(x), y);
    opt.ZeroGrad();
    loss.Backward();
    opt.Step();
    if (step % 150 == 0) Console.WriteLine($"step {step,3}: loss {loss.Item():F4}");
}
double acc;
using (Tensor.NoGrad()) acc = model.Call(x).ArgMax(1).Eq(y).To(DType.Float64).Mean().Item();
Console.WriteLine($"training accuracy {acc:P1}");
if (acc < 0.95) throw new Exception("the spirals should be separated");
Console.WriteLine("ok");
