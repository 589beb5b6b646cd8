#:project ../src/Ember.Recipes/Ember.Recipes.csproj
// Chapter 8: probability distributions and a first RL agent. The reparameterization trick, then REINFORCE on CartPole.
using Ember;
using Ember.Distributions;
using Ember.Recipes;

// d/dμ E[(z − 3)²] with z ~ N(μ, 1) is 2(μ − 3): estimated through reparameterized samples z = μ + ε.
var mu = Tensor.Scalar(1.0, DType.Float64).RequiresGrad_();
var z = new Normal(mu, Tensor.Scalar(1.0, DType.Float64)).RSample([20_000], new Generator(1));
z.Sub(3).Square().Mean().Backward();
Console.WriteLine($"pathwise gradient {mu.Grad!.Item():F3} (exact 2(μ − 3) = -4)");
if (Math.Abs(mu.Grad!.Item() + 4) > 0.1) throw new Exception("the reparameterized gradient is off");
var p = new Normal(0.0, 1.0);
var q = new Normal(1.0, 2.0);
Console.WriteLine($"KL(N(0,1) ‖ N(1,4)) = {Kl.Divergence(p, q).Item():F4} (ln 2 + 2/8 − ½ = 0.4431)");
var run = Milestones.Rl(new Milestones.RlRecipe());
Console.WriteLine(run.Result.Details);
if (!run.Result.Passed) throw new Exception("REINFORCE did not reach the gate");
Console.WriteLine("ok");
