// See package.json: never loaded on Node >= 10.
module.exports = {};
