#:project ../src/Ember/Ember.csproj
// Chapter 3: layers and modules. A Sequential MLP, its parameters and state dict, train/eval modes.
using Ember;
using Ember.NN;

var g = new Generator(1);
var mlp = new Sequential(new Linear(4, 8, generator: g), new ReLU(), new Dropout(0.5), new Linear(8, 2, generator: g));
Console.WriteLine(mlp);
foreach (var (name, p) in mlp.StateDict()) Console.WriteLine($"{name,-10} {string.Join("x", p.Shape)}");
int count = mlp.Parameters().Sum(p => p.NumEl);
Console.WriteLine($"{count} parameters (4·8 + 8 + 8·2 + 2 = 58)");
var x = Tensor.Randn([3, 4], DType.Float32, g);
mlp.Eval();                                        // dropout off: two calls agree
var y1 = mlp.Call(x).ToArray<float>();
var y2 = mlp.Call(x).ToArray<float>();
if (count != 58 || !y1.SequenceEqual(y2)) throw new Exception("unexpected");
Console.WriteLine("ok");
