// The recipes use the whole framework; one list here instead of a block at the top of every file.
global using Ember.Classical;
global using Ember.Data;
global using Ember.IO;
global using Ember.Models;
global using Ember.NN;
global using Ember.Optim;
global using Ember.Text;
global using Ember.Training;
global using Ember.Recipes.Tabular;
