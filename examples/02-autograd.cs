#:project ../src/Ember/Ember.csproj
// Chapter 2: reverse-mode autograd. Gradients of a scalar, checked against central differences; a second derivative.
using Ember;
using Ember.Autograd;

var x = Tensor.FromArray(new double[] { 0.5, -1.0, 2.0 }).RequiresGrad_();
var y = x.Tanh().Mul(x).Sum();                    // f(x) = Σ x·tanh(x)
y.Backward();
var grad = x.Grad!.ToArrayDouble();
// d/dx [x tanh x] = tanh x + x (1 − tanh² x)
var xs = new[] { 0.5, -1.0, 2.0 };
for (int i = 0; i < 3; i++)
{
    double exact = Math.Tanh(xs[i]) + xs[i] * (1 - Math.Tanh(xs[i]) * Math.Tanh(xs[i]));
    double h = 1e-6;
    double numeric = ((xs[i] + h) * Math.Tanh(xs[i] + h) - (xs[i] - h) * Math.Tanh(xs[i] - h)) / (2 * h);
    Console.WriteLine($"x={xs[i],5}: autograd {grad[i]:F8}  formula {exact:F8}  finite difference {numeric:F8}");
    if (Math.Abs(grad[i] - exact) > 1e-12) throw new Exception("gradient mismatch");
}
// A gradient of a gradient: d²/dz² z³ = 6z.
var z = Tensor.Scalar(1.5, DType.Float64).RequiresGrad_();
var dz = Grad.Of(z.Pow(3), z, createGraph: true);
var d2z = Grad.Of(dz, z);
Console.WriteLine($"d/dz z³ = {dz.Item():F4} (3z² = 6.75), d²/dz² = {d2z.Item():F4} (6z = 9)");
Console.WriteLine("ok");
