namespace Ember.Recipes.Rl;

/// <summary>
/// The cart-pole balancing task of Barto, Sutton &amp; Anderson (1983) with the constants, Euler integration,
/// termination and reward of Gymnasium's <c>CartPole-v1</c>: a 1 kg cart on a frictionless track, a 0.1 kg pole of
/// half-length 0.5 m, ±10 N pushes every 0.02 s. Observation (x, ẋ, θ, θ̇); action 0 pushes left, 1 right; reward 1
/// per step including the last; the episode terminates when |x| &gt; 2.4 or |θ| &gt; 12°, and is truncated after
/// <see cref="MaxSteps"/> steps. The state is kept in double precision (as Gymnasium's Python floats); observations
/// are float32 as Gymnasium returns them.
/// </summary>
public sealed class CartPole
{
    public const double Gravity = 9.8, MassCart = 1.0, MassPole = 0.1, TotalMass = MassCart + MassPole;
    public const double HalfLength = 0.5, PoleMassLength = MassPole * HalfLength, ForceMag = 10.0, Tau = 0.02;
    public const double XThreshold = 2.4;
    public static readonly double ThetaThreshold = 12 * 2 * Math.PI / 360;

    /// <summary>Steps after which an episode is truncated (500 for v1).</summary>
    public int MaxSteps { get; }

    private double _x, _xDot, _theta, _thetaDot;
    private int _steps;
    private bool _done = true;

    public CartPole(int maxSteps = 500)
    {
        if (maxSteps < 1) throw new ArgumentOutOfRangeException(nameof(maxSteps), maxSteps, "CartPole: maxSteps must be at least 1.");
        MaxSteps = maxSteps;
    }

    /// <summary>The state (x, ẋ, θ, θ̇) in double precision.</summary>
    public (double X, double XDot, double Theta, double ThetaDot) State => (_x, _xDot, _theta, _thetaDot);

    /// <summary>Starts an episode: every state variable uniform in [−0.05, 0.05).</summary>
    public float[] Reset(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        _x = generator.NextDouble() * 0.1 - 0.05;
        _xDot = generator.NextDouble() * 0.1 - 0.05;
        _theta = generator.NextDouble() * 0.1 - 0.05;
        _thetaDot = generator.NextDouble() * 0.1 - 0.05;
        _steps = 0;
        _done = false;
        return Observation();
    }

    /// <summary>Starts an episode from a given state (tests, replays).</summary>
    public float[] Reset(double x, double xDot, double theta, double thetaDot)
    {
        (_x, _xDot, _theta, _thetaDot) = (x, xDot, theta, thetaDot);
        _steps = 0;
        _done = false;
        return Observation();
    }

    /// <summary>One 0.02 s step under a push left (0) or right (1).</summary>
    public (float[] Observation, double Reward, bool Terminated, bool Truncated) Step(int action)
    {
        if (action is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(action), action, "CartPole.Step: the action must be 0 (left) or 1 (right).");
        if (_done) throw new InvalidOperationException("CartPole.Step: the episode has ended; call Reset first.");
        double force = action == 1 ? ForceMag : -ForceMag;
        double cos = Math.Cos(_theta), sin = Math.Sin(_theta);
        // The pole's angular acceleration from the cart's, with the cart's acceleration substituted back (Barto et al.,
        // eqs. in the appendix; Florian 2005 derives them).
        double temp = (force + PoleMassLength * _thetaDot * _thetaDot * sin) / TotalMass;
        double thetaAcc = (Gravity * sin - cos * temp) / (HalfLength * (4.0 / 3.0 - MassPole * cos * cos / TotalMass));
        double xAcc = temp - PoleMassLength * thetaAcc * cos / TotalMass;
        // Explicit Euler, positions from the old velocities.
        _x += Tau * _xDot;
        _xDot += Tau * xAcc;
        _theta += Tau * _thetaDot;
        _thetaDot += Tau * thetaAcc;
        _steps++;
        bool terminated = _x < -XThreshold || _x > XThreshold || _theta < -ThetaThreshold || _theta > ThetaThreshold;
        bool truncated = !terminated && _steps >= MaxSteps;
        _done = terminated || truncated;
        return (Observation(), 1.0, terminated, truncated);
    }

    private float[] Observation() => [(float)_x, (float)_xDot, (float)_theta, (float)_thetaDot];
}
