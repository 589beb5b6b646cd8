using Ember;
using Ember.Recipes;
using Ember.Recipes.Rl;
using Xunit;

namespace Ember.Tests.Rl;

/// <summary>The cart-pole dynamics against values worked out by hand from the equations of motion of Barto, Sutton &amp;
/// Anderson (1983) with Gymnasium's CartPole-v1 constants, its termination and truncation rules, and the rl milestone
/// (REINFORCE with a baseline) run in full: it takes a few seconds.</summary>
public class CartPoleTests
{
    [Fact]
    public void FirstPushFromRestFollowsTheEquationsOfMotion()
    {
        // From rest: temp = F/M = 100/11; θ̈ = −temp / (l(4/3 − m_p/M)) = −(100/11)/(½·41/33) = −600/41;
        // ẍ = temp − m_p·l·θ̈/M = 100/11 + 300/451 = 4400/451. One Euler step of 0.02 s: ẋ = 88/451 = 8/41, θ̇ = −12/41,
        // positions unchanged (they move with the old velocities, zero).
        var env = new CartPole();
        env.Reset(0, 0, 0, 0);
        var (obs, reward, terminated, truncated) = env.Step(1);
        var s = env.State;
        Assert.Equal(0.0, s.X);
        Assert.Equal(8.0 / 41, s.XDot, 15);
        Assert.Equal(0.0, s.Theta);
        Assert.Equal(-12.0 / 41, s.ThetaDot, 15);
        Assert.Equal(new[] { 0f, (float)(8.0 / 41), 0f, (float)(-12.0 / 41) }, obs);
        Assert.Equal(1.0, reward);
        Assert.False(terminated);
        Assert.False(truncated);
        // The second step moves the positions by the new velocities times 0.02.
        env.Step(1);
        Assert.Equal(0.02 * 8 / 41, env.State.X, 15);
        Assert.Equal(0.02 * -12 / 41, env.State.Theta, 15);
    }

    [Fact]
    public void MirroredStateAndActionGiveTheMirroredTrajectory()
    {
        var a = new CartPole();
        var b = new CartPole();
        a.Reset(0.1, -0.2, 0.05, 0.3);
        b.Reset(-0.1, 0.2, -0.05, -0.3);
        var rng = new Generator(3);
        for (int t = 0; t < 30; t++)
        {
            int action = rng.NextDouble() < 0.5 ? 0 : 1;
            var (_, _, da, _) = a.Step(action);
            var (_, _, db, _) = b.Step(1 - action);
            Assert.Equal(a.State.X, -b.State.X);
            Assert.Equal(a.State.XDot, -b.State.XDot);
            Assert.Equal(a.State.Theta, -b.State.Theta);
            Assert.Equal(a.State.ThetaDot, -b.State.ThetaDot);
            Assert.Equal(da, db);
            if (da) break;
        }
    }

    [Fact]
    public void EpisodesEndAtTwelveDegreesAtTheTrackEdgeAndAtTheStepLimit()
    {
        var env = new CartPole();
        // θ just inside 12° and falling: the step that crosses it terminates, with reward 1.
        env.Reset(0, 0, CartPole.ThetaThreshold - 1e-4, 0.5);
        var (_, reward, terminated, truncated) = env.Step(1);
        Assert.True(terminated);
        Assert.False(truncated);
        Assert.Equal(1.0, reward);
        Assert.Throws<InvalidOperationException>(() => env.Step(0));
        env.Reset(2.4 - 1e-3, 1.0, 0, 0);
        Assert.True(env.Step(1).Terminated);
        // Pushing toward the side the pole leans (θ + 0.3·θ̇) balances it from rest: truncated at exactly 500 steps.
        var longRun = new CartPole();
        longRun.Reset(0, 0, 0, 0);
        int steps = 0;
        (float[], double, bool, bool) r;
        do
        {
            var st = longRun.State;
            r = longRun.Step(st.Theta + 0.3 * st.ThetaDot > 0 ? 1 : 0);
            steps++;
        }
        while (!r.Item3 && !r.Item4);
        Assert.Equal(500, steps);
        Assert.True(r.Item4);
        Assert.False(r.Item3);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CartPole().Step(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CartPole(0));
    }

    [Fact]
    public void ReinforceBalancesThePole()
    {
        var run = Milestones.Rl(new Milestones.RlRecipe());
        Assert.True(run.Result.Passed, run.Result.Details);
        Assert.True(run.Result.Value >= 475, run.Result.Details);
        Assert.True(run.Returns.Count < 4000);
        // Learning happened: the first 20 episodes were far from the gate.
        Assert.True(run.Returns.Take(20).Average() < 100, $"first episodes averaged {run.Returns.Take(20).Average()}");
    }
}
