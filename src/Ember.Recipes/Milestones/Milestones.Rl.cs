using System.Diagnostics;
using Ember.Distributions;
using Ember.Recipes.Rl;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of the rl milestone: REINFORCE (Williams 1992) with a learned state-value baseline on
    /// <see cref="CartPole"/>.</summary>
    public sealed record RlRecipe
    {
        public ulong Seed { get; init; } = 1;
        /// <summary>Width of the policy's and the value network's hidden layer (tanh).</summary>
        public int Hidden { get; init; } = 64;
        /// <summary>Discount of the returns.</summary>
        public double Gamma { get; init; } = 0.99;
        public double PolicyLr { get; init; } = 1e-2;
        public double ValueLr { get; init; } = 1e-2;
        /// <summary>Episodes collected per update (their steps form one batch).</summary>
        public int EpisodesPerUpdate { get; init; } = 4;
        /// <summary>Training stops after this many episodes if the gate was not reached.</summary>
        public int MaxEpisodes { get; init; } = 4000;
        /// <summary>The greedy policy is evaluated once the last 20 training episodes average at least this.</summary>
        public double EvaluateAbove { get; init; } = 450;
        public int EvalEpisodes { get; init; } = 100;
        /// <summary>Gate: mean return over <see cref="EvalEpisodes"/> evaluation episodes (500 is the most).</summary>
        public double Gate { get; init; } = 475;
    }

    /// <summary>What the rl milestone produced: the result, each training episode's return, the evaluations
    /// (training episode, mean evaluation return) and the trained policy.</summary>
    public sealed record RlRun(MilestoneResult Result, IReadOnlyList<double> Returns, IReadOnlyList<(int Episode, double Mean)> Evaluations, Module Policy);

    /// <summary>Mean return of <paramref name="episodes"/> CartPole-v1 episodes under the policy's most probable action,
    /// or, with <paramref name="sampler"/>, under actions drawn from the policy.</summary>
    public static double EvaluateCartPole(Module policy, int episodes, Generator generator, Generator? sampler = null)
    {
        var env = new CartPole();
        double total = 0;
        using var noGrad = Tensor.NoGrad();
        for (int e = 0; e < episodes; e++)
        {
            var obs = env.Reset(generator);
            while (true)
            {
                var logits = policy.Call(Tensor.FromArray(obs, 1, 4)).ToArray<float>();
                int action = sampler is null ? (logits[1] > logits[0] ? 1 : 0)
                    : sampler.NextDouble() < 1 / (1 + Math.Exp(logits[0] - logits[1])) ? 1 : 0;
                var (next, reward, terminated, truncated) = env.Step(action);
                total += reward;
                obs = next;
                if (terminated || truncated) break;
            }
        }
        return total / episodes;
    }

    /// <summary>REINFORCE with a baseline on CartPole-v1: the policy's actions are drawn from
    /// <see cref="Categorical"/>(logits); after every few episodes, the policy ascends Σ log π(aₜ|sₜ)·Âₜ with
    /// Âₜ = Gₜ − V(sₜ) standardized over the batch, and V regresses on the discounted returns Gₜ. Gate: the greedy
    /// policy's mean return over 100 fresh episodes ≥ 475 (of 500).</summary>
    public static RlRun Rl(RlRecipe recipe, Action<string>? log = null)
    {
        var sw = Stopwatch.StartNew();
        var g = new Generator(recipe.Seed);
        var policy = new Sequential(new Linear(4, recipe.Hidden, generator: g), new Tanh(), new Linear(recipe.Hidden, 2, generator: g));
        var value = new Sequential(new Linear(4, recipe.Hidden, generator: g), new Tanh(), new Linear(recipe.Hidden, 1, generator: g));
        var before = Snapshot(policy);
        var policyOpt = new Adam(policy.Parameters(), lr: recipe.PolicyLr);
        var valueOpt = new Adam(value.Parameters(), lr: recipe.ValueLr);
        var env = new CartPole();
        var envRng = new Generator(recipe.Seed + 100);
        var actRng = new Generator(recipe.Seed + 200);
        var evalRng = new Generator(recipe.Seed + 300);
        var returns = new List<double>();
        var evaluations = new List<(int, double)>();
        double lastEval = double.NaN;
        var states = new List<float>();
        var actions = new List<long>();
        var targets = new List<float>();
        while (returns.Count < recipe.MaxEpisodes)
        {
            states.Clear(); actions.Clear(); targets.Clear();
            for (int e = 0; e < recipe.EpisodesPerUpdate; e++)
            {
                var obs = env.Reset(envRng);
                var rewards = new List<double>();
                while (true)
                {
                    long a;
                    using (Tensor.NoGrad())
                        a = new Categorical(logits: policy.Call(Tensor.FromArray(obs, 1, 4)), validateArgs: false).Sample(generator: actRng).ToArray<long>()[0];
                    states.AddRange(obs);
                    actions.Add(a);
                    var (next, reward, terminated, truncated) = env.Step((int)a);
                    rewards.Add(reward);
                    obs = next;
                    if (terminated || truncated) break;
                }
                // Discounted returns, back to front.
                var g1 = new float[rewards.Count];
                double acc = 0;
                for (int t = rewards.Count - 1; t >= 0; t--) g1[t] = (float)(acc = rewards[t] + recipe.Gamma * acc);
                targets.AddRange(g1);
                returns.Add(rewards.Count);
            }
            int n = actions.Count;
            var s = Tensor.FromArray(states.ToArray(), n, 4);
            var gt = Tensor.FromArray(targets.ToArray(), n);
            var v = value.Call(s).Squeeze(-1);
            var valueLoss = Functional.MseLoss(v, gt);
            valueOpt.ZeroGrad();
            valueLoss.Backward();
            valueOpt.Step();
            var adv = gt.Sub(v.Detach());
            adv = adv.Sub(adv.Mean()).Div(adv.Std().Add(1e-8));
            var logp = new Categorical(logits: policy.Call(s), validateArgs: false).LogProb(Tensor.FromArray(actions.ToArray(), n));
            var policyLoss = logp.Mul(adv).Mean().Neg();
            policyOpt.ZeroGrad();
            policyLoss.Backward();
            policyOpt.Step();

            double recent = returns.Skip(Math.Max(0, returns.Count - 20)).Average();
            if (returns.Count % 100 < recipe.EpisodesPerUpdate)
                log?.Invoke($"episode {returns.Count}: mean return of the last 20 {recent:F1}");
            if (returns.Count >= 20 && recent >= recipe.EvaluateAbove)
            {
                lastEval = EvaluateCartPole(policy, recipe.EvalEpisodes, evalRng);
                evaluations.Add((returns.Count, lastEval));
                log?.Invoke($"episode {returns.Count}: greedy evaluation over {recipe.EvalEpisodes} episodes {lastEval:F1}");
                if (lastEval >= recipe.Gate) break;
            }
        }
        if (double.IsNaN(lastEval) || lastEval < recipe.Gate)
        {
            lastEval = EvaluateCartPole(policy, recipe.EvalEpisodes, evalRng);
            evaluations.Add((returns.Count, lastEval));
        }
        double sampled = EvaluateCartPole(policy, recipe.EvalEpisodes, evalRng, new Generator(recipe.Seed + 400));
        var result = new MilestoneResult("rl", "eval_return", lastEval, recipe.Gate, Moved(before, policy), sw.Elapsed.TotalSeconds,
            $"REINFORCE with a value baseline on CartPole-v1: {returns.Count} training episodes ({returns.Sum():F0} steps), " +
            $"greedy evaluation over {recipe.EvalEpisodes} episodes: mean return {lastEval:F1} of 500 " +
            $"(actions drawn from the policy instead: {sampled:F1}, not gated)");
        return new RlRun(result, returns, evaluations, policy);
    }
}
